package replay

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/ucan"
)

// nopRunner is the Runner of a plan of the service's own invocations only (never called
// but for budgets).
type nopRunner struct{}

func (nopRunner) NewBudget() *ops.Budget                                   { return nil }
func (nopRunner) Check(*ucan.Token, ucan.Loader, *ops.Budget) *ops.Checked { return nil }
func (nopRunner) ExecWith(context.Context, *ops.Checked, cid.Cid, ...dag.OpOption) (ops.Outcome, error) {
	return ops.Outcome{}, nil
}

// seqStore counts the sequences the test's handlers commit (LastSeq) and records in what
// order, and at what time, their transactions ran.
type seqStore struct {
	mu    sync.Mutex
	seq   uint64
	order []string
	at    []int64
}

func (*seqStore) RecordReply(context.Context, cid.Cid, []cid.Cid, ...dag.OpOption) error {
	return nil
}
func (s *seqStore) LastSeq(context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq, nil
}

// TestPaced: a paced step (a task that wrote sequences 2–3 in one transaction and 6 in
// another, with steps writing 4 and 5 between) runs its transactions at their places and
// times; a replay resumed after sequence 4 runs it again from its start (its first
// transaction, done, writes nothing), paced to its remaining write.
func TestPaced(t *testing.T) {
	e, self := openEngine(t, mem.New())
	var clock time.Time
	store := &seqStore{}
	// write commits n sequences as name, in an engine transaction (which paces it).
	write := func(ctx context.Context, name string, n uint64) error {
		return e.Update(ctx, func(*dag.Tx) error {
			store.mu.Lock()
			defer store.mu.Unlock()
			store.seq += n
			store.order = append(store.order, name)
			store.at = append(store.at, clock.UnixMilli())
			return nil
		})
	}
	handlers := map[string]Handler{
		"/test/one": func(ctx context.Context, st *Step) (cid.Cid, error) {
			return cid.Undef, write(ctx, "one", 1)
		},
		"/test/paced": func(ctx context.Context, st *Step) (cid.Cid, error) {
			store.mu.Lock()
			done := store.seq >= 3
			store.mu.Unlock()
			n := uint64(2)
			if done {
				n = 0 // a handler skips what is done, but still commits a transaction
			}
			if err := write(ctx, "paced-1", n); err != nil {
				return cid.Undef, err
			}
			return cid.Undef, write(ctx, "paced-2", 1)
		},
	}
	plan := func() *Plan {
		return &Plan{Steps: []Step{
			{Inv: self(1, "/test/one"), Seq: 1, Change: true, TS: 10, Self: true, Stamps: []Stamp{{1, 10}}},
			{Inv: self(2, "/test/paced"), Seq: 2, Change: true, TS: 20, Self: true, Stamps: []Stamp{{2, 20}, {3, 20}, {6, 60}}},
			{Inv: self(3, "/test/one"), Seq: 4, Change: true, TS: 40, Self: true, Stamps: []Stamp{{4, 40}}},
			{Inv: self(4, "/test/one"), Seq: 5, Change: true, TS: 50, Self: true, Stamps: []Stamp{{5, 50}}},
			{Inv: self(5, "/test/one"), Seq: 7, Change: true, TS: 70, Self: true, Stamps: []Stamp{{7, 70}}},
		}}
	}
	opts := Options{Runner: nopRunner{}, Store: store, Handlers: handlers, SetClock: func(t time.Time) { clock = t }}
	if _, err := Run(context.Background(), plan(), opts); err != nil {
		t.Fatal(err)
	}
	if want := []string{"one", "paced-1", "one", "one", "paced-2", "one"}; !slices.Equal(store.order, want) {
		t.Fatalf("transactions ran in the order %v, want %v", store.order, want)
	}
	if want := []int64{10, 20, 40, 50, 60, 70}; !slices.Equal(store.at, want) {
		t.Fatalf("transactions ran at %v, want %v", store.at, want)
	}

	// Resumed after sequence 4: the paced step is not done.
	store.seq, store.order, store.at = 4, nil, nil
	if _, err := Run(context.Background(), plan(), opts); err != nil {
		t.Fatal(err)
	}
	if want := []string{"one", "paced-1", "paced-2", "one"}; !slices.Equal(store.order, want) {
		t.Fatalf("resumed: transactions ran in the order %v, want %v", store.order, want)
	}
	if want := []int64{50, 60, 60, 70}; !slices.Equal(store.at, want) {
		t.Fatalf("resumed: transactions ran at %v, want %v", store.at, want)
	}
	if store.seq != 7 {
		t.Fatalf("resumed: last sequence %d, want 7", store.seq)
	}
}
