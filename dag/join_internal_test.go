package dag

import (
	"context"
	"testing"
	"time"

	"github.com/w3dag/w3dag/kv/mem"
)

// TestJoinRunningBatch checks that an operation queued while a batch runs joins that
// batch's transaction (one commit for both) and that what it wrote is committed.
func TestJoinRunningBatch(t *testing.T) {
	sch := notesSchema(t)
	e, err := Open(context.Background(), Options{KV: mem.New(), Signer: fixtureSigner(t, 1), Schema: sch})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	release, first := holdCommitter(e, func(tx *Tx) error { return tx.kt.Put([]byte("x/first"), []byte("1")) })
	second := make(chan error, 1)
	go func() {
		second <- e.Update(ctx, func(tx *Tx) error { return tx.kt.Put([]byte("x/second"), []byte("2")) })
	}()
	waitQueued(t, e, 1)
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if st := e.Stats(); st.Commits != 1 || st.Ops != 2 {
		t.Fatalf("%d commits of %d operations, want 1 of 2", st.Commits, st.Ops)
	}
	err = e.View(ctx, func(tx *Tx) error {
		for _, k := range []string{"x/first", "x/second"} {
			if _, err := tx.kt.Get([]byte(k)); err != nil {
				t.Errorf("%s: %v", k, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// holdCommitter starts an Update running fn and returns once the committer is inside it,
// held there until release is called; first then receives the Update's result. Operations
// queued meanwhile join its transaction (Engine.join).
func holdCommitter(e *Engine, fn func(tx *Tx) error) (release func(), first <-chan error) {
	started, held := make(chan struct{}), make(chan struct{})
	res := make(chan error, 1)
	go func() {
		once := false
		res <- e.Update(context.Background(), func(tx *Tx) error {
			if !once {
				once = true
				close(started)
				<-held
			}
			return fn(tx)
		})
	}()
	<-started
	return func() { close(held) }, res
}

// waitQueued waits until n operations wait in the committer's queue.
func waitQueued(t *testing.T, e *Engine, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(e.queue) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d operations queued", len(e.queue), n)
		}
	}
}
