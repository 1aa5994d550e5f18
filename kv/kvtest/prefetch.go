package kvtest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/kv"
)

// prefetchMany is how many keys testPrefetchMany prefetches at once: more than one
// statement's worth in a backend that splits them (kv/postgres: PrefetchMaxKeys).
const prefetchMany = 2500

// prefetcher returns tx as a kv.Prefetcher, or fails with errNoPrefetch.
func prefetcher(tx kv.Tx) (kv.Prefetcher, error) {
	p, ok := tx.(kv.Prefetcher)
	if !ok {
		return nil, errNoPrefetch
	}
	return p, nil
}

var errNoPrefetch = errors.New("the backend's Tx is not a kv.Prefetcher")

// skipUnlessPrefetcher skips the test when s's transactions are not kv.Prefetchers.
func skipUnlessPrefetcher(t *testing.T, s kv.Store) {
	t.Helper()
	err := s.View(t.Context(), func(tx kv.Tx) error {
		_, err := prefetcher(tx)
		return err
	})
	if errors.Is(err, errNoPrefetch) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("View: %v", err)
	}
}

// wantGet checks what tx.Get(key) returns: want, or ErrNotFound when missing.
func wantGet(tx kv.Tx, key, want string, missing bool) error {
	v, err := tx.Get([]byte(key))
	if missing {
		if !errors.Is(err, kv.ErrNotFound) {
			return fmt.Errorf("Get(%.20q) = %q, %v; want ErrNotFound", key, v, err)
		}
		return nil
	}
	if err != nil || string(v) != want {
		return fmt.Errorf("Get(%.20q) = %.20q, %v; want %.20q", key, v, err, want)
	}
	return nil
}

// testPrefetch: Gets of prefetched keys return what they would have without the prefetch:
// values (empty ones and long keys included), absent keys, and the transaction's own
// writes, made before the prefetch or after it, also once the writes have gone to the
// store (a Scan sends them in kv/postgres).
func testPrefetch(t *testing.T, b Backend) {
	s := open(t, b)
	skipUnlessPrefetcher(t, s)
	long := "long/" + strings.Repeat("x", 2000)
	putAll(t, s, "a", "1", "b", "2", "c", "3", "empty", "", long, "long value", "written", "old")
	update(t, s, func(tx kv.Tx) error {
		p, err := prefetcher(tx)
		if err != nil {
			return err
		}
		// A key written before the prefetch: the write wins.
		if err := tx.Put([]byte("written"), []byte("new")); err != nil {
			return err
		}
		if err := tx.Delete([]byte("c")); err != nil {
			return err
		}
		keys := []string{"a", "b", "c", "empty", long, "written", "absent", "a", "later"}
		bs := make([][]byte, len(keys))
		for i, k := range keys {
			bs[i] = []byte(k)
		}
		if err := p.Prefetch(bs); err != nil {
			return fmt.Errorf("prefetch: %w", err)
		}
		checks := []struct {
			key, want string
			missing   bool
		}{
			{key: "a", want: "1"},
			{key: "b", want: "2"},
			{key: "c", missing: true},
			{key: "empty", want: ""},
			{key: long, want: "long value"},
			{key: "written", want: "new"},
			{key: "absent", missing: true},
			{key: "later", missing: true},
			// Read twice: still there.
			{key: "a", want: "1"},
		}
		for _, c := range checks {
			if err := wantGet(tx, c.key, c.want, c.missing); err != nil {
				return fmt.Errorf("after Prefetch: %w", err)
			}
		}
		// Writes after the prefetch win over what it read.
		if err := tx.Put([]byte("a"), []byte("10")); err != nil {
			return err
		}
		if err := tx.Delete([]byte("b")); err != nil {
			return err
		}
		if err := tx.Put([]byte("absent"), []byte("here")); err != nil {
			return err
		}
		if err := tx.Delete([]byte(long)); err != nil {
			return err
		}
		after := []struct {
			key, want string
			missing   bool
		}{
			{key: "a", want: "10"},
			{key: "b", missing: true},
			{key: "absent", want: "here"},
			{key: long, missing: true},
			{key: "empty", want: ""},
		}
		for _, c := range after {
			if err := wantGet(tx, c.key, c.want, c.missing); err != nil {
				return fmt.Errorf("after writes that follow Prefetch: %w", err)
			}
		}
		// Once the writes have reached the store (a Scan sends kv/postgres's), Gets still
		// return them, not what the prefetch read; so does a second prefetch.
		var ps []pair
		if got := scanTx(tx, kv.ScanOptions{Start: []byte("a"), End: []byte("a\x00")}, &ps); len(got) != 1 || got[0] != (pair{"a", "10"}) {
			return fmt.Errorf("scan after writes = %v, want [a=10]", got)
		}
		for _, c := range after {
			if err := wantGet(tx, c.key, c.want, c.missing); err != nil {
				return fmt.Errorf("after a Scan: %w", err)
			}
		}
		if err := p.Prefetch([][]byte{[]byte("a"), []byte("b"), []byte("absent"), []byte(long)}); err != nil {
			return fmt.Errorf("second Prefetch: %w", err)
		}
		for _, c := range after {
			if err := wantGet(tx, c.key, c.want, c.missing); err != nil {
				return fmt.Errorf("after a second Prefetch: %w", err)
			}
		}
		// Nothing to read is fine.
		return p.Prefetch(nil)
	})
	wantValue(t, s, "a", "10")
	wantMissing(t, s, "b")
	wantMissing(t, s, "c")
	wantValue(t, s, "absent", "here")
	wantMissing(t, s, long)
	wantValue(t, s, "written", "new")

	// In a View too; invalid keys fail the call.
	view(t, s, func(tx kv.Tx) error {
		p, err := prefetcher(tx)
		if err != nil {
			return err
		}
		if err := p.Prefetch([][]byte{[]byte("a"), {}}); !errors.Is(err, kv.ErrEmptyKey) {
			return fmt.Errorf("prefetch of an empty key = %v, want ErrEmptyKey", err)
		}
		if err := p.Prefetch([][]byte{make([]byte, kv.MaxKeySize+1)}); !errors.Is(err, kv.ErrKeyTooLarge) {
			return fmt.Errorf("prefetch of an oversized key = %v, want ErrKeyTooLarge", err)
		}
		if err := p.Prefetch([][]byte{[]byte("a"), []byte("b")}); err != nil {
			return fmt.Errorf("prefetch in a View: %w", err)
		}
		if err := wantGet(tx, "a", "10", false); err != nil {
			return err
		}
		return wantGet(tx, "b", "", true)
	})
}

// testPrefetchMany prefetches prefetchMany keys at once, half of them present.
func testPrefetchMany(t *testing.T, b Backend) {
	s := open(t, b)
	skipUnlessPrefetcher(t, s)
	key := func(i int) string { return fmt.Sprintf("many/%05d", i) }
	update(t, s, func(tx kv.Tx) error {
		for i := 0; i < prefetchMany; i += 2 {
			if err := tx.Put([]byte(key(i)), []byte(fmt.Sprint(i))); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx kv.Tx) error {
		p, err := prefetcher(tx)
		if err != nil {
			return err
		}
		keys := make([][]byte, prefetchMany)
		for i := range keys {
			keys[i] = []byte(key(i))
		}
		if err := p.Prefetch(keys); err != nil {
			return fmt.Errorf("prefetch of %d keys: %w", len(keys), err)
		}
		for i := range prefetchMany {
			if err := wantGet(tx, key(i), fmt.Sprint(i), i%2 == 1); err != nil {
				return err
			}
		}
		return nil
	})
}
