package dag_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
)

// conflictingKV is a kv.Store whose Updates, while armed, fail as a backend that gave up
// on a transaction that kept conflicting does (kv.ErrConflict), after running fn (so the
// jobs of the batch ran and one of them could be blamed).
type conflictingKV struct {
	kv.Store
	armed atomic.Bool
}

func (c *conflictingKV) Update(ctx context.Context, fn func(kv.Tx) error) error {
	if !c.armed.Load() {
		return c.Store.Update(ctx, fn)
	}
	// As kv/postgres does after MaxAttempts: fn ran (here in a View, so its writes fail
	// and a job of the batch is taken for the culprit) and the error wraps fn's.
	var fnErr error
	if err := c.Store.View(ctx, func(tx kv.Tx) error { fnErr = fn(tx); return nil }); err != nil {
		return err
	}
	return fmt.Errorf("%w (30 attempts): %w", kv.ErrConflict, fnErr)
}

// TestBusy: when the kv store gives up on a batch (kv.ErrConflict), every operation of it
// fails with dag.ErrBusy (not an error blamed on one of them), and the same invocation
// runs (it is not a repeat: nothing was written) once the store commits again.
func TestBusy(t *testing.T) {
	store := &conflictingKV{Store: mem.New()}
	v := newEnv(t, store)
	ctx := context.Background()
	p := v.path("notes/busy")
	tok := v.inv(v.agent, v.space, "/dag/put", pathArgs(p, note("b")))

	store.armed.Store(true)
	_, err := v.e.Put(ctx, tok, p, note("b"))
	if !errors.Is(err, dag.ErrBusy) || !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("put while the store conflicts: %v, want dag.ErrBusy wrapping kv.ErrConflict", err)
	}
	store.armed.Store(false)
	res, err := v.e.Put(ctx, tok, p, note("b"))
	if err != nil || res.Err != nil || res.Repeat {
		t.Fatalf("the same put once the store commits: %v %+v, want it to run", err, res)
	}
}
