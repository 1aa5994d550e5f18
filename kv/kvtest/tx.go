package kvtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/w3dag/w3dag/kv"
)

func testViewReadOnly(t *testing.T, b Backend) {
	s := open(t, b)
	putAll(t, s, "a", "1")
	update(t, s, func(tx kv.Tx) error { return tx.Add([]byte("n"), 5) })
	view(t, s, func(tx kv.Tx) error {
		writes := []struct {
			name string
			op   func() error
		}{
			{"Put", func() error { return tx.Put([]byte("a"), []byte("2")) }},
			{"Put new", func() error { return tx.Put([]byte("b"), []byte("2")) }},
			{"Delete", func() error { return tx.Delete([]byte("a")) }},
			{"Add", func() error { return tx.Add([]byte("n"), 1) }},
		}
		for _, w := range writes {
			if err := w.op(); !errors.Is(err, kv.ErrReadOnly) {
				return fmt.Errorf("%s in View returned %v, want ErrReadOnly", w.name, err)
			}
		}
		// Reads still work after rejected writes.
		if v, err := tx.Get([]byte("a")); err != nil || string(v) != "1" {
			return fmt.Errorf("tx.Get after rejected writes = %q, %v", v, err)
		}
		return nil
	})
	wantValue(t, s, "a", "1")
	wantMissing(t, s, "b")
	if n := counter(t, s, "n"); n != 5 {
		t.Fatalf("counter after rejected Add = %d, want 5", n)
	}

	// View returns the error of its function.
	errView := errors.New("view failed")
	if err := s.View(t.Context(), func(kv.Tx) error { return errView }); !errors.Is(err, errView) {
		t.Fatalf("View returned %v, want %v", err, errView)
	}
}

func testUpdateRollback(t *testing.T, b Backend) {
	s := open(t, b)
	putAll(t, s, "keep", "1", "gone", "2")
	update(t, s, func(tx kv.Tx) error { return tx.Add([]byte("n"), 10) })

	errFail := errors.New("fail")
	err := s.Update(t.Context(), func(tx kv.Tx) error {
		if err := tx.Put([]byte("keep"), []byte("changed")); err != nil {
			return err
		}
		if err := tx.Put([]byte("new"), []byte("x")); err != nil {
			return err
		}
		if err := tx.Delete([]byte("gone")); err != nil {
			return err
		}
		if err := tx.Add([]byte("n"), 5); err != nil {
			return err
		}
		if err := tx.Add([]byte("fresh"), 1); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errFail)
	})
	if !errors.Is(err, errFail) {
		t.Fatalf("Update returned %v, want %v", err, errFail)
	}
	wantValue(t, s, "keep", "1")
	wantValue(t, s, "gone", "2")
	wantMissing(t, s, "new")
	if n := counter(t, s, "n"); n != 10 {
		t.Fatalf("counter after rolled-back Add = %d, want 10", n)
	}
	if n := counter(t, s, "fresh"); n != 0 {
		t.Fatalf("new counter after rolled-back Add = %d, want 0", n)
	}
	if got := scan(t, s, kv.ScanOptions{}); !equalStrings(keysOf(got), []string{"gone", "keep"}) {
		t.Fatalf("scan after rollback = %v", got)
	}

	// The store keeps working after a rollback.
	putAll(t, s, "after", "ok")
	wantValue(t, s, "after", "ok")
}

func testUpdatePanicRollback(t *testing.T, b Backend) {
	s := open(t, b)
	putAll(t, s, "a", "1")
	func() {
		defer func() {
			if r := recover(); r != "kvtest panic" {
				t.Fatalf("recovered %v, want the panic from the transaction function", r)
			}
		}()
		_ = s.Update(t.Context(), func(tx kv.Tx) error {
			if err := tx.Put([]byte("a"), []byte("2")); err != nil {
				return err
			}
			if err := tx.Add([]byte("n"), 1); err != nil {
				return err
			}
			panic("kvtest panic")
		})
		t.Fatal("Update returned instead of panicking")
	}()
	wantValue(t, s, "a", "1")
	if n := counter(t, s, "n"); n != 0 {
		t.Fatalf("counter after panic = %d, want 0", n)
	}
	// No lock or transaction was leaked: another Update and View succeed.
	done := make(chan struct{})
	go func() {
		defer close(done)
		putAll(t, s, "b", "2")
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Update after a panicking Update did not finish (leaked lock?)")
	}
	wantValue(t, s, "b", "2")
}

func testContextCanceled(t *testing.T, b Backend) {
	s := open(t, b)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	err := s.Update(ctx, func(tx kv.Tx) error {
		ran = true
		return tx.Put([]byte("a"), []byte("1"))
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with canceled context returned %v, want context.Canceled", err)
	}
	if ran {
		t.Fatal("Update ran its function with a canceled context")
	}
	if err := s.View(ctx, func(kv.Tx) error { ran = true; return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("View with canceled context returned %v, want context.Canceled", err)
	}
	if ran {
		t.Fatal("View ran its function with a canceled context")
	}
	wantMissing(t, s, "a")
}

func testViewSnapshot(t *testing.T, b Backend) {
	s := open(t, b)
	putAll(t, s, "a", "1", "b", "1")
	update(t, s, func(tx kv.Tx) error { return tx.Add([]byte("n"), 1) })

	// While a View is open, an Update changes a, b and n together. Whether the backend
	// blocks the Update until the View ends or lets it commit concurrently, the View
	// must see either all of the old values or all of the new ones.
	updateDone := make(chan error, 1)
	var startOnce sync.Once
	var finished bool
	var updateErr error
	err := s.View(t.Context(), func(tx kv.Tx) error {
		a, err := tx.Get([]byte("a"))
		if err != nil {
			return err
		}
		a = append([]byte(nil), a...)
		startOnce.Do(func() {
			go func() {
				updateDone <- s.Update(context.Background(), func(tx kv.Tx) error {
					if err := tx.Put([]byte("a"), []byte("2")); err != nil {
						return err
					}
					if err := tx.Put([]byte("b"), []byte("2")); err != nil {
						return err
					}
					return tx.Add([]byte("n"), 1)
				})
			}()
		})
		if !finished {
			select {
			case updateErr = <-updateDone:
				finished = true
			case <-time.After(200 * time.Millisecond):
			}
		}
		bv, err := tx.Get([]byte("b"))
		if err != nil {
			return err
		}
		n, err := tx.Counter([]byte("n"))
		if err != nil {
			return err
		}
		var scanned []pair
		scanTx(tx, kv.ScanOptions{}, &scanned)
		want := string(a)
		if string(bv) != want || n != int64(want[0]-'0') || fmt.Sprint(scanned) != fmt.Sprint([]pair{{"a", want}, {"b", want}}) {
			return fmt.Errorf("s.View saw a=%s b=%s n=%d scan=%v: not one snapshot", a, bv, n, scanned)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	if !finished {
		select {
		case updateErr = <-updateDone:
		case <-time.After(30 * time.Second):
			t.Fatal("Update did not finish after the View ended")
		}
	}
	if updateErr != nil {
		t.Fatalf("concurrent Update: %v", updateErr)
	}
	wantValue(t, s, "a", "2")
	wantValue(t, s, "b", "2")
	if n := counter(t, s, "n"); n != 2 {
		t.Fatalf("counter = %d, want 2", n)
	}
}

func testClose(t *testing.T, b Backend) {
	s := b.Open(t)
	t.Cleanup(func() { _ = s.Close() })
	putAll(t, s, "a", "1")

	// Close waits for a transaction in progress.
	entered := make(chan struct{})
	release := make(chan struct{})
	updateErr := make(chan error, 1)
	var once sync.Once
	go func() {
		updateErr <- s.Update(context.Background(), func(tx kv.Tx) error {
			once.Do(func() { close(entered) })
			<-release
			return tx.Put([]byte("b"), []byte("2"))
		})
	}()
	<-entered
	closeErr := make(chan error, 1)
	go func() { closeErr <- s.Close() }()
	select {
	case err := <-closeErr:
		t.Fatalf("Close returned (%v) while a transaction was in progress", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-updateErr; err != nil {
		t.Fatalf("Update in progress during Close: %v", err)
	}
	if err := <-closeErr; err != nil {
		t.Fatalf("Close: %v", err)
	}

	if err := s.View(t.Context(), func(kv.Tx) error { return nil }); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("View after Close returned %v, want ErrClosed", err)
	}
	if err := s.Update(t.Context(), func(kv.Tx) error { return nil }); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("Update after Close returned %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close returned %v, want nil", err)
	}
}

func testPersistence(t *testing.T, b Backend) {
	if b.Reopen == nil {
		t.Skip("backend is not durable (no Reopen hook)")
	}
	s := b.Open(t)
	t.Cleanup(func() { _ = s.Close() })
	putAll(t, s, "a", "1", "b", "2", "c", "3")
	update(t, s, func(tx kv.Tx) error {
		if err := tx.Delete([]byte("b")); err != nil {
			return err
		}
		if err := tx.Add([]byte("n"), 41); err != nil {
			return err
		}
		return tx.Add([]byte("n"), 1)
	})
	errFail := errors.New("fail")
	if err := s.Update(t.Context(), func(tx kv.Tx) error {
		if err := tx.Put([]byte("rolled-back"), []byte("x")); err != nil {
			return err
		}
		return errFail
	}); !errors.Is(err, errFail) {
		t.Fatalf("failing Update returned %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for round := range 2 {
		s2 := b.Reopen(t, s)
		if s2 == nil {
			t.Fatal("Reopen returned nil")
		}
		t.Cleanup(func() { _ = s2.Close() })
		got := scan(t, s2, kv.ScanOptions{})
		want := []pair{{"a", "1"}, {"c", "3"}}
		if round == 1 {
			want = append(want, pair{"d", "4"})
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after reopen %d: scan = %v, want %v", round+1, got, want)
		}
		if n := counter(t, s2, "n"); n != 42 {
			t.Fatalf("after reopen %d: counter = %d, want 42", round+1, n)
		}
		putAll(t, s2, "d", "4")
		if err := s2.Close(); err != nil {
			t.Fatalf("Close after reopen: %v", err)
		}
		s = s2
	}
}
