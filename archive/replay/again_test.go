package replay

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
)

// TestResumeRunsAgain: a task whose last archived write is the rebuilt store's last
// sequence may have written more after it, in a transaction that took no sequence (an
// include task's final transition that changed nothing): a resumed replay runs it again
// when Options.Again says it may (and only then), paced or not, and it writes what is
// missing; a step whose last write is before the store's last is done.
func TestResumeRunsAgain(t *testing.T) {
	e, self := openEngine(t, mem.New())
	store := &seqStore{}
	// done holds the tasks whose closing transaction (no sequence) has committed.
	done := map[string]bool{}
	write := func(ctx context.Context, name string, n uint64, closing string) error {
		return e.Update(ctx, func(*dag.Tx) error {
			store.mu.Lock()
			defer store.mu.Unlock()
			store.seq += n
			store.order = append(store.order, name)
			if closing != "" {
				done[closing] = true
			}
			return nil
		})
	}
	// task writes its sequences (skipped when the store holds them: a handler skips what
	// is done) and then closes in a transaction of its own that writes no sequence.
	task := func(name string, upTo uint64, n uint64) Handler {
		return func(ctx context.Context, st *Step) (cid.Cid, error) {
			store.mu.Lock()
			written := store.seq >= upTo
			store.mu.Unlock()
			if !written {
				if err := write(ctx, name, n, ""); err != nil {
					return cid.Undef, err
				}
			}
			return cid.Undef, write(ctx, name+"-close", 0, name)
		}
	}
	handlers := map[string]Handler{
		"/test/one":   func(ctx context.Context, st *Step) (cid.Cid, error) { return cid.Undef, write(ctx, "one", 1, "") },
		"/test/task":  task("task", 2, 1),
		"/test/paced": task("paced", 5, 2),
	}
	plan := func() *Plan {
		return &Plan{Steps: []Step{
			{Inv: self(1, "/test/one"), Seq: 1, Change: true, TS: 10, Self: true, Stamps: []Stamp{{1, 10}}},
			{Inv: self(2, "/test/task"), Seq: 2, Change: true, TS: 20, Self: true, Stamps: []Stamp{{2, 20}}},
			{Inv: self(3, "/test/one"), Seq: 3, Change: true, TS: 30, Self: true, Stamps: []Stamp{{3, 30}}},
			{Inv: self(4, "/test/paced"), Seq: 4, Change: true, TS: 40, Self: true, Stamps: []Stamp{{4, 40}, {5, 40}}},
			{Inv: self(5, "/test/one"), Seq: 6, Change: true, TS: 60, Self: true, Stamps: []Stamp{{6, 60}}},
		}}
	}
	tasks := func(st *Step) bool { return st.Inv.Invocation.Command != "/test/one" }
	for _, tc := range []struct {
		name  string
		last  uint64
		again func(*Step) bool
		// closed are the tasks whose closing transaction the killed run committed.
		closed []string
		// want are the transactions the resumed run commits, in order; wantClosed the
		// tasks closed at its end.
		want, wantClosed []string
	}{
		{"after the task's write, before its close", 2, tasks, nil,
			[]string{"task-close", "one", "paced", "paced-close", "one"}, []string{"task", "paced"}},
		{"after the task's write, not to run again", 2, nil, nil,
			[]string{"one", "paced", "paced-close", "one"}, []string{"paced"}},
		{"after the task's close: it runs again, skipping what is done", 2, tasks, []string{"task"},
			[]string{"task-close", "one", "paced", "paced-close", "one"}, []string{"task", "paced"}},
		{"after the paced task's last write, before its close", 5, tasks, []string{"task"},
			[]string{"paced-close", "one"}, []string{"task", "paced"}},
		{"after a later step: both done", 6, tasks, []string{"task", "paced"}, nil, []string{"task", "paced"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store.seq, store.order = tc.last, nil
			clear(done)
			for _, c := range tc.closed {
				done[c] = true
			}
			opts := Options{Runner: nopRunner{}, Store: store, Handlers: handlers, Again: tc.again, SetClock: func(time.Time) {}}
			_, err := Run(context.Background(), plan(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(store.order, tc.want) {
				t.Fatalf("transactions ran in the order %v, want %v", store.order, tc.want)
			}
			if store.seq != 6 {
				t.Fatalf("last sequence %d, want 6", store.seq)
			}
			for _, name := range []string{"task", "paced"} {
				if want := slices.Contains(tc.wantClosed, name); done[name] != want {
					t.Errorf("%s closed: %v, want %v", name, done[name], want)
				}
			}
		})
	}
}
