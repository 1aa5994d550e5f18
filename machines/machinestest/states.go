package machinestest

import (
	"context"
	"fmt"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/schema"
)

// ValidateStates walks the whole commit log of e and validates the state of every receipt
// (out.ok) against its collection's state type in e's schema: every state the machines
// write — store, carwhere, upload, usage, task — is the shape the schema publishes.
// It returns how many states it checked.
func ValidateStates(ctx context.Context, e *dag.Engine) (int, error) {
	sch := e.Schema()
	var after uint64
	n := 0
	for {
		evs, err := e.Log(ctx, after, 1000)
		if err != nil {
			return n, err
		}
		if len(evs) == 0 {
			return n, nil
		}
		for _, ev := range evs {
			after = ev.Seq
			kind := schema.SpaceSubject
			if ev.Path.Subject == e.Service() {
				kind = schema.ServiceSubject
			}
			c, ok := sch.Collection(kind, ev.Path.Collection)
			if !ok {
				return n, fmt.Errorf("log %d: %s: no collection %q for a %s", ev.Seq, ev.Path, ev.Path.Collection, kind)
			}
			raw, err := e.Block(ctx, ev.Receipt)
			if err != nil {
				return n, fmt.Errorf("log %d: %w", ev.Seq, err)
			}
			_, r, err := receipts.Decode(raw)
			if err != nil {
				return n, fmt.Errorf("log %d: %w", ev.Seq, err)
			}
			if r.Out.Ok == nil {
				return n, fmt.Errorf("log %d: %s: head receipt without out.ok", ev.Seq, ev.Path)
			}
			if err := sch.Validate(c.State, r.Out.Ok); err != nil {
				return n, fmt.Errorf("log %d: state of %s is not a %s: %w", ev.Seq, ev.Path, c.State, err)
			}
			n++
		}
	}
}
