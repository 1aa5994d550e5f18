package kvtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/w3dag/w3dag/kv"
)

// Backend describes a store implementation under test.
type Backend struct {
	// Open returns a new, empty store. The suite closes it when the test ends; Open should
	// register any further clean-up (temporary files, schemas) with t.Cleanup.
	Open func(t *testing.T) kv.Store

	// Reopen, when set, returns a new store over the same data as closed, which the suite
	// has already closed. The suite closes the returned store too. Nil means the backend is
	// not durable and skips the persistence tests.
	Reopen func(t *testing.T, closed kv.Store) kv.Store

	// Hold, for a backend whose stores are kv.Pipeliners, holds up the syncs of s (a store
	// Open returned): until release is called, nothing applied becomes durable. release
	// lets the held syncs finish, or fails them (and so the store) with fail when it is
	// not nil. Nil skips the pipelining tests that need it.
	Hold func(t *testing.T, s kv.Store) (release func(fail error))
}

// Run runs the contract suite against stores returned by open, without persistence tests.
func Run(t *testing.T, open func(t *testing.T) kv.Store) {
	RunBackend(t, Backend{Open: open})
}

// RunBackend runs the contract suite against b, including the persistence tests when
// b.Reopen is set.
func RunBackend(t *testing.T, b Backend) {
	if b.Open == nil {
		t.Fatal("kvtest: Backend.Open is nil")
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"Basic", testBasic},
		{"EmptyValue", testEmptyValue},
		{"Limits", testLimits},
		{"BytewiseOrder", testBytewiseOrder},
		{"NoAliasing", testNoAliasing},
		{"ReadYourWrites", testReadYourWrites},
		{"Prefetch", testPrefetch},
		{"PrefetchMany", testPrefetchMany},
		{"ScanRanges", testScanRanges},
		{"ScanPrefix", testScanPrefix},
		{"ScanStopAndErrors", testScanStopAndErrors},
		{"ScanMany", testScanMany},
		{"ScanSeesOwnWrites", testScanSeesOwnWrites},
		{"ScanCallbackReads", testScanCallbackReads},
		{"LongKeys", testLongKeys},
		{"ViewReadOnly", testViewReadOnly},
		{"UpdateRollback", testUpdateRollback},
		{"UpdatePanicRollback", testUpdatePanicRollback},
		{"ContextCanceled", testContextCanceled},
		{"ViewSnapshot", testViewSnapshot},
		{"Counters", testCounters},
		{"CounterNamespace", testCounterNamespace},
		{"CounterRollback", testCounterRollback},
		{"CountersConcurrent", testCountersConcurrent},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"Transfers", testTransfers},
		{"WriteSkew", testWriteSkew},
		{"Close", testClose},
		{"Persistence", testPersistence},
		{"PipelineReadsApplied", testPipelineReadsApplied},
		{"PipelineDurableOrder", testPipelineDurableOrder},
		{"PipelineFailure", testPipelineFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, b) })
	}
}

// open opens a store for one test and closes it at the end.
func open(t *testing.T, b Backend) kv.Store {
	t.Helper()
	s := b.Open(t)
	if s == nil {
		t.Fatal("Backend.Open returned nil")
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func update(t *testing.T, s kv.Store, fn func(kv.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s kv.Store, fn func(kv.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// putAll writes key/value pairs given as alternating strings in one Update.
func putAll(t *testing.T, s kv.Store, kvs ...string) {
	t.Helper()
	if len(kvs)%2 != 0 {
		t.Fatal("putAll needs key/value pairs")
	}
	update(t, s, func(tx kv.Tx) error {
		for i := 0; i < len(kvs); i += 2 {
			if err := tx.Put([]byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				return fmt.Errorf("put %q: %w", kvs[i], err)
			}
		}
		return nil
	})
}

// Get reads key from s in a View: its value and true, or false when it is absent. Any
// other error fails t. Tests of packages that write through a store check what it holds
// with it.
func Get(t *testing.T, s kv.Store, key string) (value string, ok bool) {
	t.Helper()
	view(t, s, func(tx kv.Tx) error {
		v, err := tx.Get([]byte(key))
		if errors.Is(err, kv.ErrNotFound) {
			ok = false
			return nil
		}
		if err != nil {
			return fmt.Errorf("get %q: %w", key, err)
		}
		value, ok = string(v), true
		return nil
	})
	return value, ok
}

// Has reports whether s holds key (Get).
func Has(t *testing.T, s kv.Store, key string) bool {
	t.Helper()
	_, ok := Get(t, s, key)
	return ok
}

func wantValue(t *testing.T, s kv.Store, key, want string) {
	t.Helper()
	got, ok := Get(t, s, key)
	if !ok {
		t.Fatalf("Get(%q): not found, want %q", key, want)
	}
	if got != want {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

func wantMissing(t *testing.T, s kv.Store, key string) {
	t.Helper()
	if got, ok := Get(t, s, key); ok {
		t.Fatalf("Get(%q) = %q, want ErrNotFound", key, got)
	}
}

func counter(t *testing.T, s kv.Store, key string) int64 {
	t.Helper()
	var n int64
	view(t, s, func(tx kv.Tx) error {
		var err error
		n, err = tx.Counter([]byte(key))
		return err
	})
	return n
}

// pair is one key/value seen by a scan, copied.
type pair struct{ k, v string }

func (p pair) String() string { return fmt.Sprintf("%q=%q", p.k, p.v) }

// scan collects a scan inside a View.
func scan(t *testing.T, s kv.Store, opts kv.ScanOptions) []pair {
	t.Helper()
	var got []pair
	view(t, s, func(tx kv.Tx) error {
		got = scanTx(tx, opts, &got)
		return nil
	})
	return got
}

// scanTx collects a scan inside tx into *dst (reset first, so that it is safe when a
// transaction function is re-run) and also returns it. A scan error is recorded as a
// pair with key "<error>".
func scanTx(tx kv.Tx, opts kv.ScanOptions, dst *[]pair) []pair {
	*dst = nil
	err := tx.Scan(opts, func(k, v []byte) error {
		*dst = append(*dst, pair{string(k), string(v)})
		return nil
	})
	if err != nil {
		*dst = append(*dst, pair{"<error>", err.Error()})
	}
	return *dst
}

func keysOf(ps []pair) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.k
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func isSortedBytes(keys []string, reverse bool) bool {
	for i := 1; i < len(keys); i++ {
		c := bytes.Compare([]byte(keys[i-1]), []byte(keys[i]))
		if (!reverse && c >= 0) || (reverse && c <= 0) {
			return false
		}
	}
	return true
}
