package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/w3dag/w3dag/kv"
)

func testBasic(t *testing.T, b Backend) {
	s := open(t, b)
	wantMissing(t, s, "a")

	putAll(t, s, "a", "1", "b", "2")
	wantValue(t, s, "a", "1")
	wantValue(t, s, "b", "2")

	// Overwrite.
	putAll(t, s, "a", "one")
	wantValue(t, s, "a", "one")

	// Delete, and deleting a missing key.
	update(t, s, func(tx kv.Tx) error {
		if err := tx.Delete([]byte("a")); err != nil {
			return fmt.Errorf("delete a: %w", err)
		}
		if err := tx.Delete([]byte("never-written")); err != nil {
			return fmt.Errorf("delete missing key: %w", err)
		}
		return nil
	})
	wantMissing(t, s, "a")
	wantValue(t, s, "b", "2")

	// ErrNotFound is returned as such (errors.Is) and the value is nil.
	view(t, s, func(tx kv.Tx) error {
		v, err := tx.Get([]byte("a"))
		if !errors.Is(err, kv.ErrNotFound) {
			return fmt.Errorf("Get(missing) error = %v, want ErrNotFound", err)
		}
		if v != nil {
			return fmt.Errorf("Get(missing) value = %q, want nil", v)
		}
		return nil
	})

	// Re-creating a deleted key.
	putAll(t, s, "a", "again")
	wantValue(t, s, "a", "again")
}

func testEmptyValue(t *testing.T, b Backend) {
	s := open(t, b)
	update(t, s, func(tx kv.Tx) error {
		if err := tx.Put([]byte("nil"), nil); err != nil {
			return err
		}
		return tx.Put([]byte("empty"), []byte{})
	})
	for _, k := range []string{"nil", "empty"} {
		view(t, s, func(tx kv.Tx) error {
			v, err := tx.Get([]byte(k))
			if err != nil {
				return fmt.Errorf("Get(%q) of an empty value: %w", k, err)
			}
			if len(v) != 0 {
				return fmt.Errorf("Get(%q) = %q, want empty", k, v)
			}
			return nil
		})
	}
	got := scan(t, s, kv.ScanOptions{})
	if want := []string{"empty", "nil"}; !equalStrings(keysOf(got), want) {
		t.Fatalf("scan = %v, want keys %q", got, want)
	}
}

func testLimits(t *testing.T, b Backend) {
	s := open(t, b)
	maxKey := patterned(kv.MaxKeySize, 1)
	bigKey := patterned(kv.MaxKeySize+1, 2)
	maxValue := patterned(kv.MaxValueSize, 3)
	bigValue := make([]byte, kv.MaxValueSize+1)

	tests := []struct {
		name string
		op   func(tx kv.Tx) error
		want error
	}{
		{"put nil key", func(tx kv.Tx) error { return tx.Put(nil, []byte("v")) }, kv.ErrEmptyKey},
		{"put empty key", func(tx kv.Tx) error { return tx.Put([]byte{}, []byte("v")) }, kv.ErrEmptyKey},
		{"put oversized key", func(tx kv.Tx) error { return tx.Put(bigKey, []byte("v")) }, kv.ErrKeyTooLarge},
		{"put oversized value", func(tx kv.Tx) error { return tx.Put([]byte("k"), bigValue) }, kv.ErrValueTooLarge},
		{"get empty key", func(tx kv.Tx) error { _, err := tx.Get(nil); return err }, kv.ErrEmptyKey},
		{"get oversized key", func(tx kv.Tx) error { _, err := tx.Get(bigKey); return err }, kv.ErrKeyTooLarge},
		{"delete empty key", func(tx kv.Tx) error { return tx.Delete([]byte{}) }, kv.ErrEmptyKey},
		{"delete oversized key", func(tx kv.Tx) error { return tx.Delete(bigKey) }, kv.ErrKeyTooLarge},
		{"add empty key", func(tx kv.Tx) error { return tx.Add(nil, 1) }, kv.ErrEmptyKey},
		{"add oversized key", func(tx kv.Tx) error { return tx.Add(bigKey, 1) }, kv.ErrKeyTooLarge},
		{"counter empty key", func(tx kv.Tx) error { _, err := tx.Counter(nil); return err }, kv.ErrEmptyKey},
		{"counter oversized key", func(tx kv.Tx) error { _, err := tx.Counter(bigKey); return err }, kv.ErrKeyTooLarge},
		{"put max key and value", func(tx kv.Tx) error { return tx.Put(maxKey, maxValue) }, nil},
		{"add max key", func(tx kv.Tx) error { return tx.Add(maxKey, 7) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opErr error
			err := s.Update(t.Context(), func(tx kv.Tx) error {
				opErr = tt.op(tx)
				return nil
			})
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			switch {
			case tt.want == nil && opErr != nil:
				t.Fatalf("got error %v, want none", opErr)
			case tt.want != nil && !errors.Is(opErr, tt.want):
				t.Fatalf("got error %v, want %v", opErr, tt.want)
			}
		})
	}

	// The maximal key and value were stored intact, and the rejected writes left nothing.
	view(t, s, func(tx kv.Tx) error {
		v, err := tx.Get(maxKey)
		if err != nil {
			return fmt.Errorf("Get(max key): %w", err)
		}
		if !bytes.Equal(v, maxValue) {
			return fmt.Errorf("Get(max key) returned %d bytes, not the %d written", len(v), len(maxValue))
		}
		if _, err := tx.Get([]byte("k")); !errors.Is(err, kv.ErrNotFound) {
			return fmt.Errorf("tx.Get after rejected oversized value: %v, want ErrNotFound", err)
		}
		n, err := tx.Counter(maxKey)
		if err != nil {
			return fmt.Errorf("Counter(max key): %w", err)
		}
		if n != 7 {
			return fmt.Errorf("Counter(max key) = %d, want 7", n)
		}
		return nil
	})

	// Two maximal keys that differ only in their last byte are distinct and ordered.
	other := append([]byte(nil), maxKey...)
	other[len(other)-1]++
	update(t, s, func(tx kv.Tx) error { return tx.Put(other, []byte("other")) })
	view(t, s, func(tx kv.Tx) error {
		var keys [][]byte
		err := tx.Scan(kv.ScanOptions{Start: maxKey[:kv.MaxKeySize-1]}, func(k, v []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			return nil
		})
		if err != nil {
			return err
		}
		if len(keys) != 2 || !bytes.Equal(keys[0], maxKey) || !bytes.Equal(keys[1], other) {
			return fmt.Errorf("scan of two maximal keys returned %d keys in the wrong order or form", len(keys))
		}
		return nil
	})
}

// patterned returns n bytes that do not compress well and differ by seed.
func patterned(n int, seed uint32) []byte {
	out := make([]byte, n)
	x := seed*2654435761 + 1
	for i := range out {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = byte(x)
	}
	return out
}

func testBytewiseOrder(t *testing.T, b Backend) {
	s := open(t, b)
	// Inserted out of order; the expected order is bytewise (unsigned, shorter prefix first).
	keys := []string{"\xff", "a\x00", "\x00", "a", "ab", "\x7f", "\x80", "A", "a\xff", "\x00\x00", "b", "\xff\xff", "\xc3\xa9"}
	update(t, s, func(tx kv.Tx) error {
		for _, k := range keys {
			if err := tx.Put([]byte(k), []byte("v:"+k)); err != nil {
				return err
			}
		}
		return nil
	})
	want := []string{"\x00", "\x00\x00", "A", "a", "a\x00", "ab", "a\xff", "b", "\x7f", "\x80", "\xc3\xa9", "\xff", "\xff\xff"}
	// Sort check of want itself, so that the table cannot be wrong silently.
	if !isSortedBytes(want, false) {
		t.Fatal("test table is not in bytewise order")
	}
	got := scan(t, s, kv.ScanOptions{})
	if !equalStrings(keysOf(got), want) {
		t.Fatalf("scan order = %q, want %q", keysOf(got), want)
	}
	for _, p := range got {
		if p.v != "v:"+p.k {
			t.Fatalf("scan value for %q = %q, want %q", p.k, p.v, "v:"+p.k)
		}
	}
	for _, k := range keys {
		wantValue(t, s, k, "v:"+k)
	}
}

func testNoAliasing(t *testing.T, b Backend) {
	s := open(t, b)
	key := []byte("key")
	value := []byte("value")
	update(t, s, func(tx kv.Tx) error {
		if err := tx.Put(key, value); err != nil {
			return err
		}
		// The caller may reuse its buffers right after Put returns.
		key[0], value[0] = 'X', 'X'
		v, err := tx.Get([]byte("key"))
		if err != nil {
			return fmt.Errorf("tx.Get after Put with reused buffers: %w", err)
		}
		if string(v) != "value" {
			return fmt.Errorf("tx.Get inside the transaction = %q, want %q", v, "value")
		}
		return nil
	})
	wantValue(t, s, "key", "value")
	wantMissing(t, s, "Xey")

	// A value read in one transaction and kept (copied) stays as it was after later writes.
	var kept []byte
	view(t, s, func(tx kv.Tx) error {
		v, err := tx.Get([]byte("key"))
		kept = append([]byte(nil), v...)
		return err
	})
	putAll(t, s, "key", "changed")
	if string(kept) != "value" {
		t.Fatalf("copied value changed to %q", kept)
	}
}

func testReadYourWrites(t *testing.T, b Backend) {
	s := open(t, b)
	putAll(t, s, "a", "1", "b", "2")
	update(t, s, func(tx kv.Tx) error {
		if err := tx.Put([]byte("a"), []byte("10")); err != nil {
			return err
		}
		if err := tx.Delete([]byte("b")); err != nil {
			return err
		}
		if err := tx.Put([]byte("c"), []byte("3")); err != nil {
			return err
		}
		checks := []struct {
			key, want string
			missing   bool
		}{
			{key: "a", want: "10"},
			{key: "b", missing: true},
			{key: "c", want: "3"},
		}
		for _, c := range checks {
			v, err := tx.Get([]byte(c.key))
			if c.missing {
				if !errors.Is(err, kv.ErrNotFound) {
					return fmt.Errorf("Get(%q) after Delete in the same tx: %q, %v; want ErrNotFound", c.key, v, err)
				}
				continue
			}
			if err != nil || string(v) != c.want {
				return fmt.Errorf("Get(%q) in the same tx = %q, %v; want %q", c.key, v, err, c.want)
			}
		}
		// Put after Delete in the same transaction.
		if err := tx.Put([]byte("b"), []byte("20")); err != nil {
			return err
		}
		if v, err := tx.Get([]byte("b")); err != nil || string(v) != "20" {
			return fmt.Errorf("Get(b) after Delete then Put = %q, %v; want 20", v, err)
		}
		return nil
	})
	wantValue(t, s, "a", "10")
	wantValue(t, s, "b", "20")
	wantValue(t, s, "c", "3")
}
