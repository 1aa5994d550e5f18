package kvtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/w3dag/w3dag/kv"
)

// notYet is how long the pipelining tests watch for a wait that must not return (its
// writes are held from becoming durable) before they release it.
const notYet = 100 * time.Millisecond

// pipeliner returns a store of b that implements kv.Pipeliner, skipping the test for a
// backend without the capability, or without b.Hold when hold is set. With failing, the
// test will fail the store: its Close may report that failure again, which is not checked.
func pipeliner(t *testing.T, b Backend, hold, failing bool) kv.Pipeliner {
	t.Helper()
	var s kv.Store
	if failing {
		s = b.Open(t)
		t.Cleanup(func() { _ = s.Close() })
	} else {
		s = open(t, b)
	}
	p, ok := s.(kv.Pipeliner)
	if !ok {
		t.Skip("the backend is not a kv.Pipeliner")
	}
	if hold && b.Hold == nil {
		t.Skip("Backend.Hold is nil")
	}
	return p
}

// applied runs fn with UpdateApplied and fails the test on an error.
func applied(t *testing.T, p kv.Pipeliner, fn func(kv.Tx) error) func() error {
	t.Helper()
	wait, err := p.UpdateApplied(context.Background(), fn)
	if err != nil {
		t.Fatalf("UpdateApplied: %v", err)
	}
	if wait == nil {
		t.Fatal("UpdateApplied returned a nil wait and no error")
	}
	return wait
}

func put(key, value string) func(kv.Tx) error {
	return func(tx kv.Tx) error { return tx.Put([]byte(key), []byte(value)) }
}

// waitAsync calls wait on another goroutine; the channel receives its result.
func waitAsync(wait func() error) <-chan error {
	c := make(chan error, 1)
	go func() { c <- wait() }()
	return c
}

// testPipelineReadsApplied: a transaction started after UpdateApplied returns reads its
// writes, before any wait is called; a failing function applies nothing and returns no wait.
func testPipelineReadsApplied(t *testing.T, b Backend) {
	p := pipeliner(t, b, false, false)
	w1 := applied(t, p, put("a", "1"))
	var got string
	w2 := applied(t, p, func(tx kv.Tx) error {
		v, err := tx.Get([]byte("a"))
		if err != nil {
			return fmt.Errorf("reading the applied a: %w", err)
		}
		got = string(v)
		return tx.Put([]byte("b"), v)
	})
	if got != "1" {
		t.Fatalf("the next transaction read a=%q, want 1", got)
	}
	errFail := errors.New("fail")
	wait, err := p.UpdateApplied(t.Context(), func(tx kv.Tx) error {
		if err := tx.Put([]byte("c"), []byte("1")); err != nil {
			return err
		}
		return errFail
	})
	if !errors.Is(err, errFail) || wait != nil {
		t.Fatalf("UpdateApplied of a failing function = (wait %v, %v), want (nil, %v)", wait != nil, err, errFail)
	}
	// Waits may be called out of order.
	if err := w2(); err != nil {
		t.Fatalf("second wait: %v", err)
	}
	wantValue(t, p, "a", "1")
	wantValue(t, p, "b", "1")
	if err := w1(); err != nil {
		t.Fatalf("first wait: %v", err)
	}
	if err := w1(); err != nil {
		t.Fatalf("first wait called again: %v", err)
	}
	wantMissing(t, p, "c")
}

// testPipelineDurableOrder holds the store's syncs: applied writes are read by the next
// transactions but not by View, no wait returns (nor Update, nor the wait of a transaction
// that only read them) until the syncs are released, and then all return nil and View
// sees everything.
func testPipelineDurableOrder(t *testing.T, b Backend) {
	p := pipeliner(t, b, true, false)
	putAll(t, p, "a", "0")
	release := b.Hold(t, p)
	w1 := applied(t, p, put("a", "1"))
	w2 := applied(t, p, func(tx kv.Tx) error {
		v, err := tx.Get([]byte("a"))
		if err != nil {
			return err
		}
		if string(v) != "1" {
			return fmt.Errorf("read a=%q, want the applied 1", v)
		}
		return tx.Put([]byte("b"), []byte("2"))
	})
	w3 := applied(t, p, func(tx kv.Tx) error {
		_, err := tx.Get([]byte("b"))
		return err
	})
	wantValue(t, p, "a", "0")
	wantMissing(t, p, "b")
	// Later waits first: none may return before the earlier writes are durable.
	waits := []<-chan error{waitAsync(w3), waitAsync(w2), waitAsync(w1)}
	upd := make(chan error, 1)
	go func() { upd <- p.Update(context.Background(), put("c", "3")) }()
	waits = append(waits, upd)
	for i, c := range waits {
		select {
		case err := <-c:
			release(nil)
			t.Fatalf("wait %d returned (%v) while the syncs were held", i, err)
		case <-time.After(notYet / time.Duration(len(waits))):
		}
	}
	wantValue(t, p, "a", "0")
	wantMissing(t, p, "b")
	release(nil)
	for i, c := range waits {
		if err := <-c; err != nil {
			t.Fatalf("wait %d after the release: %v", i, err)
		}
	}
	wantValue(t, p, "a", "1")
	wantValue(t, p, "b", "2")
	wantValue(t, p, "c", "3")
}

// testPipelineFailure fails the held syncs: the wait of every applied transaction returns
// an error wrapping kv.ErrFailed, View never sees their writes, and later transactions
// fail with kv.ErrFailed.
func testPipelineFailure(t *testing.T, b Backend) {
	p := pipeliner(t, b, true, true)
	putAll(t, p, "a", "0")
	release := b.Hold(t, p)
	w1 := applied(t, p, put("a", "1"))
	w2 := applied(t, p, put("b", "2"))
	w3 := applied(t, p, func(tx kv.Tx) error {
		_, err := tx.Get([]byte("b"))
		return err
	})
	release(errors.New("kvtest: sync failed"))
	for i, w := range []func() error{w3, w1, w2} {
		if err := w(); !errors.Is(err, kv.ErrFailed) {
			t.Fatalf("wait %d after a failed sync: %v, want kv.ErrFailed", i, err)
		}
	}
	wantValue(t, p, "a", "0")
	wantMissing(t, p, "b")
	if err := p.Update(t.Context(), put("c", "3")); !errors.Is(err, kv.ErrFailed) {
		t.Fatalf("Update after a failed sync: %v, want kv.ErrFailed", err)
	}
	if _, err := p.UpdateApplied(t.Context(), put("c", "3")); !errors.Is(err, kv.ErrFailed) {
		t.Fatalf("UpdateApplied after a failed sync: %v, want kv.ErrFailed", err)
	}
}
