package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/w3dag/w3dag/kv"
)

// TestHotCounter runs 32 concurrent Updates that each Add to the same counter and checks
// that sharded blind upserts keep conflicts (and so retries) rare.
func TestHotCounter(t *testing.T) {
	const workers, rounds = 32, 4
	s := openTest(t, Options{MaxConns: 16})
	defer s.Close()
	start := make(chan struct{})
	errs := make(chan error, workers)
	var runs atomic.Int64
	for range workers {
		go func() {
			<-start
			var err error
			for range rounds {
				err = s.Update(t.Context(), func(tx kv.Tx) error {
					runs.Add(1)
					return tx.Add([]byte("hot"), 1)
				})
				if err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	began := time.Now()
	close(start)
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(began)
	var n int64
	if err := s.View(t.Context(), func(tx kv.Tx) error {
		var err error
		n, err = tx.Counter([]byte("hot"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n != workers*rounds {
		t.Fatalf("counter = %d, want %d", n, workers*rounds)
	}
	retries := s.Retries()
	t.Logf("%d concurrent Updates x %d rounds of Add on one counter: %d retries, %d function runs, %v",
		workers, rounds, retries, runs.Load(), elapsed)
	// Each retry means a conflict between two Adds; with one shard per connection there
	// should be almost none. Allow some slack for shard collisions after a retry.
	if retries > workers*rounds/4 {
		t.Fatalf("%d retries for %d Adds: counter shards are conflicting", retries, workers*rounds)
	}
}

// TestRetryLimit checks that a transaction that keeps conflicting is run MaxAttempts
// times and then fails with ErrTooManyRetries wrapping the conflict.
func TestRetryLimit(t *testing.T) {
	s := openTest(t, Options{})
	defer s.Close()
	s.retryBase, s.retryMax = time.Microsecond, time.Millisecond
	conflict := &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
	runs := 0
	err := s.Update(t.Context(), func(tx kv.Tx) error {
		runs++
		if err := tx.Put([]byte("k"), []byte("v")); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", conflict)
	})
	if !errors.Is(err, ErrTooManyRetries) || !errors.Is(err, conflict) {
		t.Fatalf("Update returned %v, want ErrTooManyRetries wrapping the conflict", err)
	}
	if runs != MaxAttempts {
		t.Fatalf("fn ran %d times, want MaxAttempts = %d", runs, MaxAttempts)
	}
	if got := s.Retries(); got != MaxAttempts-1 {
		t.Fatalf("Retries() = %d, want %d", got, MaxAttempts-1)
	}

	// A deadlock is retried too, and a later success ends the retries.
	runs = 0
	err = s.Update(t.Context(), func(tx kv.Tx) error {
		runs++
		if runs < 3 {
			return &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}
		}
		return tx.Put([]byte("k"), []byte("v"))
	})
	if err != nil || runs != 3 {
		t.Fatalf("Update after two deadlocks: err %v after %d runs, want nil after 3", err, runs)
	}

	// Other errors are not retried.
	runs = 0
	other := &pgconn.PgError{Code: "23505", Message: "unique violation"}
	if err := s.Update(t.Context(), func(tx kv.Tx) error { runs++; return other }); !errors.Is(err, other) || runs != 1 {
		t.Fatalf("Update with a non-conflict error: %v after %d runs, want it once", err, runs)
	}

	// The context ends the retries.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	s.retryBase, s.retryMax = 10*time.Millisecond, 10*time.Millisecond
	err = s.Update(ctx, func(tx kv.Tx) error { return conflict })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Update retrying past its deadline returned %v, want DeadlineExceeded", err)
	}
}

// TestIgnoredStatementError checks that a database error that fn swallows still fails the
// transaction instead of committing a partial one.
func TestIgnoredStatementError(t *testing.T) {
	s := openTest(t, Options{})
	defer s.Close()
	err := s.Update(t.Context(), func(ktx kv.Tx) error {
		if err := ktx.Put([]byte("a"), []byte("1")); err != nil {
			return err
		}
		// Make a statement fail on the server; the next write then fails because the
		// transaction is aborted, and fn ignores that.
		_, _ = ktx.(*tx).ptx.Exec(t.Context(), "SELECT 1/0")
		_ = ktx.Put([]byte("b"), []byte("2"))
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "aborted") {
		t.Fatalf("Update after an ignored statement error returned %v, want an aborted-transaction error", err)
	}
	if err := s.View(t.Context(), func(tx kv.Tx) error {
		if _, err := tx.Get([]byte("a")); !errors.Is(err, kv.ErrNotFound) {
			return fmt.Errorf("write of the failed transaction is visible: %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	url := testURL(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	tests := []struct {
		name    string
		url     string
		opts    Options
		wantErr error
		wantMsg string
	}{
		{"schema too long", url, Options{Schema: strings.Repeat("s", MaxSchemaLen+1)}, ErrInvalidSchema, "at most"},
		{"schema with NUL", url, Options{Schema: "a\x00b"}, ErrInvalidSchema, "NUL"},
		{"bad URL", "postgres://%zz", Options{}, nil, "parsing connection URL"},
		{"unreachable server", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", Options{Schema: "unused"}, nil, "opening postgres store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.url, tt.opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Open error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}
}

// TestQuotedSchema checks that schema names are quoted, not spliced into SQL.
func TestQuotedSchema(t *testing.T) {
	url := testURL(t)
	schema := `kvtest_"; DROP TABLE x; --` + freshSchema(t, url)
	dropSchemaAtEnd(t, url, schema)
	s := openTest(t, Options{Schema: schema})
	defer s.Close()
	if err := s.Update(t.Context(), func(tx kv.Tx) error { return tx.Put([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.View(t.Context(), func(tx kv.Tx) error {
		v, err := tx.Get([]byte("k"))
		if err == nil && !bytes.Equal(v, []byte("v")) {
			err = fmt.Errorf("got %q", v)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func TestSplitKey(t *testing.T) {
	short := []byte("abc")
	k1, k2, h := splitKey(short)
	if !bytes.Equal(k1, short) || len(k2) != 0 || len(h) != 0 || k2 == nil || h == nil {
		t.Fatalf("splitKey(short) = %x, %x, %x", k1, k2, h)
	}
	exact := bytes.Repeat([]byte{1}, KeyPrefixSize)
	if k1, k2, h := splitKey(exact); len(k1) != KeyPrefixSize || len(k2) != 0 || len(h) != 0 {
		t.Fatalf("splitKey(exactly KeyPrefixSize) split into %d, %d, %d bytes", len(k1), len(k2), len(h))
	}
	long := append(bytes.Repeat([]byte{1}, KeyPrefixSize), 2, 3)
	k1, k2, h = splitKey(long)
	if len(k1) != KeyPrefixSize || !bytes.Equal(k2, []byte{2, 3}) || len(h) != 32 {
		t.Fatalf("splitKey(long) split into %d, %x, %d bytes", len(k1), k2, len(h))
	}
}

func TestIsConflict(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "40001"}, true},
		{&pgconn.PgError{Code: "40P01"}, true},
		{fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "40001"}), true},
		{&pgconn.PgError{Code: "23505"}, false},
		{errors.New("40001"), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := isConflict(tt.err); got != tt.want {
			t.Errorf("isConflict(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func benchStore(b *testing.B) *Store {
	s := openTest(b, Options{})
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkUpdate measures one small Put per transaction.
func BenchmarkUpdate(b *testing.B) {
	s := benchStore(b)
	value := bytes.Repeat([]byte("v"), 100)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		key := fmt.Appendf(nil, "key/%010d", i)
		i++
		if err := s.Update(ctx, func(tx kv.Tx) error { return tx.Put(key, value) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan measures scanning 100 keys of a 10 000-key store.
func BenchmarkScan(b *testing.B) {
	const keys, page = 10000, 100
	s := benchStore(b)
	ctx := context.Background()
	value := bytes.Repeat([]byte("v"), 100)
	err := s.Update(ctx, func(tx kv.Tx) error {
		for i := range keys {
			if err := tx.Put(fmt.Appendf(nil, "key/%010d", i), value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		start := fmt.Appendf(nil, "key/%010d", (i*page)%(keys-page))
		i++
		n := 0
		err := s.View(ctx, func(tx kv.Tx) error {
			n = 0
			return tx.Scan(kv.ScanOptions{Start: start, Limit: page}, func(k, v []byte) error {
				n++
				return nil
			})
		})
		if err != nil || n != page {
			b.Fatalf("scan: %d keys, %v", n, err)
		}
	}
}
