package dag

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/kv/pebble"
)

// TestGatherWaitOnlyWithoutPipeline checks that the committer waits GatherWait for
// operations in flight before it commits a batch only on a store that does not pipeline
// its commits: on kv/mem each commit with an operation stuck in flight takes at least
// GatherWait, on kv/pebble the committer does not wait (and commits all the same).
func TestGatherWaitOnlyWithoutPipeline(t *testing.T) {
	sch := notesSchema(t)
	openPebble := func(t *testing.T) kv.Store {
		st, err := pebble.Open(filepath.Join(t.TempDir(), "kv"), pebble.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	for _, tc := range []struct {
		name string
		open func(*testing.T) kv.Store
		wait time.Duration
	}{
		{"mem", func(*testing.T) kv.Store { return mem.New() }, GatherWait},
		{"pebble", openPebble, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.open(t)
			defer st.Close()
			e, err := Open(context.Background(), Options{KV: st, Signer: fixtureSigner(t, 1), Schema: sch})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if e.gatherWait != tc.wait {
				t.Fatalf("gatherWait %v, want %v", e.gatherWait, tc.wait)
			}
			// An operation that has started and will not be queued before the commits.
			g := e.enter()
			defer g.leave()
			const n = 5
			start := time.Now()
			for i := range n {
				err := e.Update(context.Background(), func(tx *Tx) error {
					return tx.kt.Put([]byte{'x', '/', byte('a' + i)}, []byte("1"))
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if took := time.Since(start); took < n*tc.wait {
				t.Fatalf("%d commits took %v, want at least %v (GatherWait each)", n, took, n*tc.wait)
			}
			if st := e.Stats(); st.Commits != n {
				t.Fatalf("%d commits, want %d", st.Commits, n)
			}
		})
	}
}
