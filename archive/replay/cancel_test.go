package replay

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/ucan"
)

// cancelRunner cancels the replay when it checks its first invocation and runs each write
// until the replay is cancelled, then a little longer, counting the runs not yet returned.
type cancelRunner struct {
	cancel  context.CancelFunc
	running atomic.Int64
}

func (*cancelRunner) NewBudget() *ops.Budget { return nil }

func (r *cancelRunner) Check(*ucan.Token, ucan.Loader, *ops.Budget) *ops.Checked {
	r.running.Add(1) // counted from here so that a run not started yet counts too
	r.cancel()
	return &ops.Checked{}
}

func (r *cancelRunner) ExecWith(ctx context.Context, _ *ops.Checked, _ cid.Cid, _ ...dag.OpOption) (ops.Outcome, error) {
	defer r.running.Add(-1)
	<-ctx.Done()
	time.Sleep(50 * time.Millisecond)
	return ops.Outcome{}, ctx.Err()
}

type noStore struct{}

func (noStore) RecordReply(context.Context, cid.Cid, []cid.Cid, ...dag.OpOption) error {
	return nil
}
func (noStore) LastSeq(context.Context) (uint64, error) { return 0, nil }

// TestCancelWaitsForWrites: a replay cancelled while a write is in flight returns only
// once that write has returned, so nothing runs on against a store its caller closes.
func TestCancelWaitsForWrites(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &cancelRunner{cancel: cancel}
	put := func(n int) *ucan.Token {
		tk := tok(n)
		tk.Invocation = &ucan.Invocation{Command: ops.CmdPut}
		return tk
	}
	plan := &Plan{Steps: []Step{
		{Inv: put(1), Seq: 1, Change: true, TS: 10},
		{Inv: put(2), Seq: 2, Change: true, TS: 20}, // another time: another group
	}}
	_, err := Run(ctx, plan, Options{Runner: r, Store: noStore{}, SetClock: func(time.Time) {}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	if n := r.running.Load(); n != 0 {
		t.Fatalf("Run returned with %d write(s) still running", n)
	}
}
