package postgres

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/w3dag/w3dag/kv"
)

// TestSerialWrites runs two Stores on one schema (two nodes) whose Updates both read and
// write the same key, the second starting while the first is open. Without SerialWrites
// the second runs concurrently and fails with a serialization failure once the first
// commits, so it runs twice; with it, it waits for the first and runs once, after it.
func TestSerialWrites(t *testing.T) {
	for _, tc := range []struct {
		name     string
		serial   bool
		wantRuns int64
	}{
		{"concurrent", false, 2},
		{"serial", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := openTest(t, Options{SerialWrites: tc.serial})
			defer a.Close()
			b := openTest(t, Options{Schema: a.Schema(), SerialWrites: tc.serial})
			defer b.Close()
			if err := a.Update(t.Context(), func(tx kv.Tx) error { return tx.Put([]byte("hot"), []byte("0")) }); err != nil {
				t.Fatal(err)
			}

			entered, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			aErr := make(chan error, 1)
			go func() {
				aErr <- a.Update(t.Context(), func(tx kv.Tx) error {
					if _, err := tx.Get([]byte("hot")); err != nil {
						return err
					}
					if err := tx.Put([]byte("hot"), []byte("a")); err != nil {
						return err
					}
					// A scan sends the buffered write, so a holds the row's lock from here.
					if err := tx.Scan(kv.ScanOptions{Limit: 1}, func(_, _ []byte) error { return nil }); err != nil {
						return err
					}
					once.Do(func() { close(entered) })
					<-release
					return nil
				})
			}()
			<-entered

			var runs atomic.Int64
			read := make(chan struct{}, 2)
			var saw []byte
			bErr := make(chan error, 1)
			go func() {
				bErr <- b.Update(t.Context(), func(tx kv.Tx) error {
					runs.Add(1)
					v, err := tx.Get([]byte("hot"))
					if err != nil {
						return err
					}
					saw = append(saw[:0], v...)
					read <- struct{}{}
					return tx.Put([]byte("hot"), []byte("b"))
				})
			}()
			if tc.serial {
				select {
				case <-read:
					t.Fatal("the second Update ran while the first held the write lock")
				case <-time.After(300 * time.Millisecond):
				}
			} else {
				<-read // b read the old value; its write will conflict with a's
			}
			close(release)
			if err := <-aErr; err != nil {
				t.Fatalf("first Update: %v", err)
			}
			if err := <-bErr; err != nil {
				t.Fatalf("second Update: %v", err)
			}
			if got := runs.Load(); got != tc.wantRuns {
				t.Fatalf("the second Update ran %d times (%d retries), want %d", got, b.Retries(), tc.wantRuns)
			}
			if string(saw) != "a" {
				t.Fatalf("the second Update's last run read %q, want the first's write %q", saw, "a")
			}
			var final []byte
			if err := b.View(t.Context(), func(tx kv.Tx) error {
				v, err := tx.Get([]byte("hot"))
				final = append(final, v...)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if string(final) != "b" {
				t.Fatalf("hot = %q, want %q", final, "b")
			}
		})
	}
}

// TestWriteLockKey checks that the lock key depends on the schema only.
func TestWriteLockKey(t *testing.T) {
	a1, a2, b := WriteLockKey("a"), WriteLockKey("a"), WriteLockKey("b")
	if a1 != a2 || a1 == b {
		t.Fatal("WriteLockKey is not a function of the schema name alone")
	}
}

// TestWriteLockTimeout: while another node's Update holds the write lock past lockWait,
// an Update fails with kv.ErrConflict (nothing run), and runs once the lock is free.
func TestWriteLockTimeout(t *testing.T) {
	a := openTest(t, Options{SerialWrites: true})
	defer a.Close()
	b := openTest(t, Options{Schema: a.Schema(), SerialWrites: true})
	defer b.Close()
	b.lockWait = 200 * time.Millisecond

	entered, release := make(chan struct{}), make(chan struct{})
	aErr := make(chan error, 1)
	go func() {
		aErr <- a.Update(t.Context(), func(tx kv.Tx) error {
			close(entered)
			<-release
			return tx.Put([]byte("k"), []byte("a"))
		})
	}()
	<-entered
	ran := false
	err := b.Update(t.Context(), func(tx kv.Tx) error { ran = true; return tx.Put([]byte("k"), []byte("b")) })
	if !errors.Is(err, kv.ErrConflict) || ran {
		t.Fatalf("Update while another holds the write lock: %v (ran %v), want kv.ErrConflict without running", err, ran)
	}
	close(release)
	if err := <-aErr; err != nil {
		t.Fatal(err)
	}
	if err := b.Update(t.Context(), func(tx kv.Tx) error { return tx.Put([]byte("k"), []byte("b")) }); err != nil {
		t.Fatalf("Update once the lock is free: %v", err)
	}
}
