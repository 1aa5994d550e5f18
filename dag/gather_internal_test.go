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

// TestGatherWaitOnlyWithoutPipeline checks that the committer waits for operations in
// flight (GatherWait, lengthened here to an hour) before it commits a batch only on a
// store that does not pipeline its commits. With an operation in flight, an Update is
// queued: on kv/mem the committer holds it until the operation leaves and a second Update
// is queued, and commits both in one batch; on kv/pebble it commits the first at
// once, alone, and the second in a batch of its own.
func TestGatherWaitOnlyWithoutPipeline(t *testing.T) {
	openPebble := func(t *testing.T) kv.Store {
		st, err := pebble.Open(filepath.Join(t.TempDir(), "kv"), pebble.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	for _, tc := range []struct {
		name    string
		open    func(*testing.T) kv.Store
		gathers bool
	}{
		{"mem", func(*testing.T) kv.Store { return mem.New() }, true},
		{"pebble", openPebble, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.open(t)
			defer st.Close()
			e, err := Open(context.Background(), Options{KV: st, Signer: fixtureSigner(t, 1), Schema: notesSchema(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			e.gatherWait = time.Hour
			update := func(key string) <-chan error {
				c := make(chan error, 1)
				go func() {
					c <- e.Update(context.Background(), func(tx *Tx) error {
						return tx.kt.Put([]byte(key), []byte("1"))
					})
				}()
				return c
			}
			// An operation that has started and is not queued yet.
			g := e.enter()
			// recv waits for an Update's result; an hour's GatherWait would outlast it
			// (then the operation leaves and an Update wakes the committer, for Close).
			recv := func(c <-chan error) {
				t.Helper()
				select {
				case err := <-c:
					if err != nil {
						t.Fatal(err)
					}
				case <-time.After(10 * time.Second):
					g.leave()
					update("x/wake")
					t.Fatal("an Update is still waiting to commit")
				}
			}
			first := update("x/first")
			rest := []<-chan error{first}
			if tc.gathers {
				time.Sleep(50 * time.Millisecond) // the committer takes first and waits
				select {
				case err := <-first:
					t.Fatalf("the first Update returned (%v) while an operation was in flight", err)
				default:
				}
			} else {
				recv(first)
				rest = nil
			}
			// The operation leaves, then a second Update is queued: a committer that
			// waits takes it into the first's batch and, with nothing in flight, commits.
			g.leave()
			rest = append(rest, update("x/second"))
			for _, c := range rest {
				recv(c)
			}
			want := uint64(2)
			if tc.gathers {
				want = 1
			}
			if st := e.Stats(); st.Commits != want || st.Ops != 2 {
				t.Fatalf("%d commits of %d operations, want %d of 2", st.Commits, st.Ops, want)
			}
		})
	}
}
