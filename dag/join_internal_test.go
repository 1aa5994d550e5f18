package dag

import (
	"context"
	"testing"
	"time"

	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/schema"
)

// TestJoinRunningBatch checks that an operation queued while a batch runs joins that
// batch's transaction (one commit for both) and that what it wrote is committed.
func TestJoinRunningBatch(t *testing.T) {
	sch, err := schema.Load([]byte("type Space struct {\n  notes {String:Note}\n}\n\ntype Note struct {\n  title String\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(context.Background(), Options{KV: mem.New(), Signer: fixtureSigner(t, 1), Schema: sch})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		once := false
		first <- e.Update(ctx, func(tx *Tx) error {
			if !once {
				once = true
				close(started)
				<-release
			}
			return tx.kt.Put([]byte("x/first"), []byte("1"))
		})
	}()
	<-started
	second := make(chan error, 1)
	go func() {
		second <- e.Update(ctx, func(tx *Tx) error { return tx.kt.Put([]byte("x/second"), []byte("2")) })
	}()
	for deadline := time.Now().Add(5 * time.Second); len(e.queue) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second operation was not queued")
		}
	}
	close(release)
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
