package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ipfs/go-cid"
)

// MaxEffectsWalk bounds the receipts ChainFx collects (ErrWalkTooLarge past it).
const MaxEffectsWalk = 1000

// Step is one receipt reached by ChainFx, or an effect that has no receipt yet.
type Step struct {
	// Receipt is the receipt; nil for an effect with no receipt yet (a task not yet run).
	Receipt *Receipt
	// Effect is the invocation, listed in the fx of the receipt Cause, through which this
	// step's chain was reached; cid.Undef on the chain ChainFx started from.
	Effect cid.Cid
	// Cause is the receipt whose fx listed Effect; cid.Undef with Effect.
	Cause cid.Cid
	// Known is set on the first receipt of an effect's chain that was already reached
	// (printed earlier in the walk): the walk of that chain stops there.
	Known bool
}

// ChainFx walks from the receipt rc (or an invocation's receipt, as Chain) along origin
// links, as Chain does, and along effects: for each receipt reached, each invocation in
// its fx leads to the receipt of its task (GET /receipts/{invocation}), whose own chain
// and effects are walked in turn, depth first. Each receipt is reported once: an effect's
// chain that reaches a receipt already reported ends with a Known step. An effect with no
// receipt yet (a task not yet run) is a step without Receipt. Every receipt is verified
// as Chain verifies it. At most MaxEffectsWalk receipts are collected.
func (c *Client) ChainFx(ctx context.Context, rc cid.Cid) ([]Step, error) {
	w := &fxWalk{c: c, seen: map[cid.Cid]bool{}}
	if err := w.chain(ctx, rc, cid.Undef, cid.Undef); err != nil {
		return nil, err
	}
	return w.steps, nil
}

// ErrWalkTooLarge ends a ChainFx that reached more than MaxEffectsWalk receipts.
var ErrWalkTooLarge = errors.New("client: more receipts than a walk collects")

type fxWalk struct {
	c     *Client
	seen  map[cid.Cid]bool
	steps []Step
	n     int
}

// chain adds the chain of rc (reached through effect of cause, or the start) and then
// walks the effects of each of its new receipts.
func (w *fxWalk) chain(ctx context.Context, rc, effect, cause cid.Cid) error {
	rs, err := w.c.Chain(ctx, rc)
	if err != nil {
		var he *HTTPError
		if effect.Defined() && errors.As(err, &he) && he.Status == http.StatusNotFound {
			w.steps = append(w.steps, Step{Effect: effect, Cause: cause})
			return nil
		}
		return err
	}
	var fresh []*Receipt
	for i, r := range rs {
		st := Step{Receipt: r}
		if i == 0 {
			st.Effect, st.Cause = effect, cause
		}
		if w.seen[r.CID] {
			st.Known = true
			w.steps = append(w.steps, st)
			break
		}
		w.seen[r.CID] = true
		if w.n++; w.n > MaxEffectsWalk {
			return fmt.Errorf("%w (%d)", ErrWalkTooLarge, MaxEffectsWalk)
		}
		w.steps = append(w.steps, st)
		fresh = append(fresh, r)
	}
	for _, r := range fresh {
		for _, fx := range r.Fx {
			if err := w.chain(ctx, fx, fx, r.CID); err != nil {
				return fmt.Errorf("effect %s of %s: %w", fx, r.CID, err)
			}
		}
	}
	return nil
}
