package replay

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
)

// TestUnhandled: a step of the service's own whose command no Handler runs is not run,
// counted and named (Result.Unhandled, FirstUnhandled: what `w3dag replay` and `verify`
// report and exit 1 for), and the replay goes on with the steps after it.
func TestUnhandled(t *testing.T) {
	e, self := openEngine(t, mem.New())
	store := &seqStore{}
	handlers := map[string]Handler{
		"/test/one": func(ctx context.Context, st *Step) (cid.Cid, error) {
			return cid.Undef, e.Update(ctx, func(*dag.Tx) error {
				store.mu.Lock()
				defer store.mu.Unlock()
				store.seq++
				store.order = append(store.order, st.Inv.Invocation.Command)
				return nil
			})
		},
	}
	plan := &Plan{Steps: []Step{
		{Inv: self(1, "/test/one"), Seq: 1, Change: true, TS: 10, Self: true, Stamps: []Stamp{{1, 10}}},
		{Inv: self(2, "/test/unknown"), Seq: 2, Change: true, TS: 20, Self: true, Stamps: []Stamp{{2, 20}}},
		{Inv: self(3, "/test/one"), Seq: 3, Change: true, TS: 30, Self: true, Stamps: []Stamp{{3, 30}}},
	}}
	res, err := Run(context.Background(), plan, Options{Runner: nopRunner{}, Store: store, Handlers: handlers, SetClock: func(time.Time) {}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unhandled != 1 {
		t.Errorf("Unhandled = %d, want 1", res.Unhandled)
	}
	if !strings.Contains(res.FirstUnhandled, "/test/unknown") || !strings.Contains(res.FirstUnhandled, "seq 2") {
		t.Errorf("FirstUnhandled = %q, want it to name /test/unknown at seq 2", res.FirstUnhandled)
	}
	if want := []string{"/test/one", "/test/one"}; !slices.Equal(store.order, want) {
		t.Errorf("ran %v, want %v (the steps around the unhandled one)", store.order, want)
	}
}
