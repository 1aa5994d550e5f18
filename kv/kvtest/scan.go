package kvtest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/w3dag/w3dag/kv"
)

func testScanRanges(t *testing.T, b Backend) {
	s := open(t, b)
	putAll(t, s, "a", "1", "b", "2", "c", "3", "d", "4", "e", "5")

	tests := []struct {
		name string
		opts kv.ScanOptions
		want []string
	}{
		{"all", kv.ScanOptions{}, []string{"a", "b", "c", "d", "e"}},
		{"all reverse", kv.ScanOptions{Reverse: true}, []string{"e", "d", "c", "b", "a"}},
		{"empty start is nil", kv.ScanOptions{Start: []byte{}}, []string{"a", "b", "c", "d", "e"}},
		{"start inclusive", kv.ScanOptions{Start: []byte("b")}, []string{"b", "c", "d", "e"}},
		{"start between keys", kv.ScanOptions{Start: []byte("bb")}, []string{"c", "d", "e"}},
		{"end exclusive", kv.ScanOptions{End: []byte("c")}, []string{"a", "b"}},
		{"end between keys", kv.ScanOptions{End: []byte("cc")}, []string{"a", "b", "c"}},
		{"start and end", kv.ScanOptions{Start: []byte("b"), End: []byte("d")}, []string{"b", "c"}},
		{"start equals end", kv.ScanOptions{Start: []byte("c"), End: []byte("c")}, nil},
		{"start after end", kv.ScanOptions{Start: []byte("d"), End: []byte("b")}, nil},
		{"start after last", kv.ScanOptions{Start: []byte("f")}, nil},
		{"end before first", kv.ScanOptions{End: []byte("a")}, nil},
		{"limit", kv.ScanOptions{Limit: 2}, []string{"a", "b"}},
		{"limit larger than range", kv.ScanOptions{Start: []byte("d"), Limit: 10}, []string{"d", "e"}},
		{"limit one", kv.ScanOptions{Start: []byte("c"), Limit: 1}, []string{"c"}},
		{"reverse start and end", kv.ScanOptions{Start: []byte("b"), End: []byte("d"), Reverse: true}, []string{"c", "b"}},
		{"reverse end between keys", kv.ScanOptions{End: []byte("cc"), Reverse: true}, []string{"c", "b", "a"}},
		{"reverse start between keys", kv.ScanOptions{Start: []byte("bb"), Reverse: true}, []string{"e", "d", "c"}},
		{"reverse limit", kv.ScanOptions{Limit: 2, Reverse: true}, []string{"e", "d"}},
		{"reverse range limit", kv.ScanOptions{Start: []byte("a"), End: []byte("e"), Limit: 3, Reverse: true}, []string{"d", "c", "b"}},
		{"reverse start after end", kv.ScanOptions{Start: []byte("d"), End: []byte("b"), Reverse: true}, nil},
		{"reverse start equals end", kv.ScanOptions{Start: []byte("c"), End: []byte("c"), Reverse: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scan(t, s, tt.opts)
			if !equalStrings(keysOf(got), tt.want) {
				t.Fatalf("scan %+v = %v, want keys %q", tt.opts, got, tt.want)
			}
			for _, p := range got {
				if want := string(rune('1' + p.k[0] - 'a')); p.v != want {
					t.Fatalf("value of %q = %q, want %q", p.k, p.v, want)
				}
			}
		})
	}

	// The same scans inside an Update behave the same.
	for _, tt := range tests[:6] {
		var got []pair
		update(t, s, func(tx kv.Tx) error {
			scanTx(tx, tt.opts, &got)
			return nil
		})
		if !equalStrings(keysOf(got), tt.want) {
			t.Fatalf("scan in Update %q = %v, want keys %q", tt.name, got, tt.want)
		}
	}
}

func testScanPrefix(t *testing.T, b Backend) {
	s := open(t, b)
	keys := []string{
		"a", "a\xff", "a\xff\xff", "a\xff\x00", "b", "b\x00",
		"\xff", "\xff\x00", "\xff\xff", "\xff\xff\xff", "\xfe\xff", "\xfe\xff\xff",
		"p/", "p/1", "p/2", "p0", "p.", "q",
	}
	update(t, s, func(tx kv.Tx) error {
		for _, k := range keys {
			if err := tx.Put([]byte(k), []byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	tests := []struct {
		prefix string
		want   []string
	}{
		{"p/", []string{"p/", "p/1", "p/2"}},
		{"a", []string{"a", "a\xff", "a\xff\x00", "a\xff\xff"}},
		{"a\xff", []string{"a\xff", "a\xff\x00", "a\xff\xff"}},
		{"a\xff\xff", []string{"a\xff\xff"}},
		{"\xff", []string{"\xff", "\xff\x00", "\xff\xff", "\xff\xff\xff"}},
		{"\xff\xff", []string{"\xff\xff", "\xff\xff\xff"}},
		{"\xfe\xff", []string{"\xfe\xff", "\xfe\xff\xff"}},
		{"b", []string{"b", "b\x00"}},
		{"z", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%x", tt.prefix), func(t *testing.T) {
			p := []byte(tt.prefix)
			for _, reverse := range []bool{false, true} {
				got := scan(t, s, kv.ScanOptions{Start: p, End: kv.PrefixEnd(p), Reverse: reverse})
				want := tt.want
				if reverse {
					want = reversed(want)
				}
				if !equalStrings(keysOf(got), want) {
					t.Fatalf("prefix scan %q reverse=%v = %q, want %q", tt.prefix, reverse, keysOf(got), want)
				}
			}
		})
	}
}

func reversed(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[len(in)-1-i] = s
	}
	return out
}

func testScanStopAndErrors(t *testing.T, b Backend) {
	s := open(t, b)
	putAll(t, s, "a", "1", "b", "2", "c", "3", "d", "4")
	boom := errors.New("boom")

	tests := []struct {
		name     string
		reverse  bool
		stopAt   string
		stopErr  error
		wantSeen []string
		wantErr  error
	}{
		{"ErrStop", false, "b", kv.ErrStop, []string{"a", "b"}, nil},
		{"ErrStop wrapped", false, "c", fmt.Errorf("done: %w", kv.ErrStop), []string{"a", "b", "c"}, nil},
		{"ErrStop reverse", true, "c", kv.ErrStop, []string{"d", "c"}, nil},
		{"callback error", false, "b", boom, []string{"a", "b"}, boom},
		{"callback error wrapped", true, "b", fmt.Errorf("ctx: %w", boom), []string{"d", "c", "b"}, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, inUpdate := range []bool{false, true} {
				var seen []string
				var scanErr error
				fn := func(tx kv.Tx) error {
					seen = nil
					scanErr = tx.Scan(kv.ScanOptions{Reverse: tt.reverse}, func(k, v []byte) error {
						seen = append(seen, string(k))
						if string(k) == tt.stopAt {
							return tt.stopErr
						}
						return nil
					})
					return nil
				}
				if inUpdate {
					update(t, s, fn)
				} else {
					view(t, s, fn)
				}
				if !equalStrings(seen, tt.wantSeen) {
					t.Fatalf("inUpdate=%v: callback saw %q, want %q", inUpdate, seen, tt.wantSeen)
				}
				switch {
				case tt.wantErr == nil && scanErr != nil:
					t.Fatalf("inUpdate=%v: Scan returned %v, want nil", inUpdate, scanErr)
				case tt.wantErr != nil && !errors.Is(scanErr, tt.wantErr):
					t.Fatalf("inUpdate=%v: Scan returned %v, want %v", inUpdate, scanErr, tt.wantErr)
				}
			}
		})
	}

	// A scan error returned from the transaction function comes back from View and Update.
	err := s.View(t.Context(), func(tx kv.Tx) error {
		return tx.Scan(kv.ScanOptions{}, func(k, v []byte) error { return boom })
	})
	if !errors.Is(err, boom) {
		t.Fatalf("View returned %v, want %v", err, boom)
	}
}

func testScanMany(t *testing.T, b Backend) {
	s := open(t, b)
	const n = 2000
	update(t, s, func(tx kv.Tx) error {
		for i := range n {
			// Insert in a scrambled order.
			j := (i * 7919) % n
			if err := tx.Put(fmt.Appendf(nil, "k%05d", j), fmt.Appendf(nil, "%d", j)); err != nil {
				return err
			}
		}
		return nil
	})
	for _, reverse := range []bool{false, true} {
		got := scan(t, s, kv.ScanOptions{Reverse: reverse})
		if len(got) != n {
			t.Fatalf("reverse=%v: scanned %d keys, want %d", reverse, len(got), n)
		}
		if !isSortedBytes(keysOf(got), reverse) {
			t.Fatalf("reverse=%v: keys are not in order", reverse)
		}
		for _, p := range got {
			j, err := strconv.Atoi(p.v)
			if err != nil || p.k != fmt.Sprintf("k%05d", j) {
				t.Fatalf("key %q has value %q", p.k, p.v)
			}
		}
	}
	// Stopping early in a large range.
	var seen int
	view(t, s, func(tx kv.Tx) error {
		seen = 0
		return tx.Scan(kv.ScanOptions{Start: []byte("k00500")}, func(k, v []byte) error {
			seen++
			if seen == 10 {
				return kv.ErrStop
			}
			return nil
		})
	})
	if seen != 10 {
		t.Fatalf("scan ended after %d keys, want 10", seen)
	}
	got := scan(t, s, kv.ScanOptions{Start: []byte("k01000"), End: []byte("k01100"), Limit: 50, Reverse: true})
	if len(got) != 50 || got[0].k != "k01099" || got[49].k != "k01050" {
		t.Fatalf("reverse limited range = %d keys from %v", len(got), got[:min(len(got), 2)])
	}
}

func testScanSeesOwnWrites(t *testing.T, b Backend) {
	s := open(t, b)
	putAll(t, s, "a", "1", "c", "3", "e", "5", "g", "7")
	var fwd, rev, lim, rng []pair
	update(t, s, func(tx kv.Tx) error {
		for _, op := range []struct{ k, v string }{{"b", "2"}, {"e", "50"}, {"h", "8"}, {"0", "0"}} {
			if err := tx.Put([]byte(op.k), []byte(op.v)); err != nil {
				return err
			}
		}
		for _, k := range []string{"c", "g", "missing"} {
			if err := tx.Delete([]byte(k)); err != nil {
				return err
			}
		}
		scanTx(tx, kv.ScanOptions{}, &fwd)
		scanTx(tx, kv.ScanOptions{Reverse: true}, &rev)
		scanTx(tx, kv.ScanOptions{Limit: 3}, &lim)
		scanTx(tx, kv.ScanOptions{Start: []byte("b"), End: []byte("h"), Reverse: true}, &rng)
		return nil
	})
	want := []pair{{"0", "0"}, {"a", "1"}, {"b", "2"}, {"e", "50"}, {"h", "8"}}
	check := func(name string, got, want []pair) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s scan inside Update = %v, want %v", name, got, want)
		}
	}
	check("forward", fwd, want)
	check("reverse", rev, []pair{{"h", "8"}, {"e", "50"}, {"b", "2"}, {"a", "1"}, {"0", "0"}})
	check("limited", lim, want[:3])
	check("range", rng, []pair{{"e", "50"}, {"b", "2"}})
	check("committed", scan(t, s, kv.ScanOptions{}), want)
}

func testScanCallbackReads(t *testing.T, b Backend) {
	s := open(t, b)
	putAll(t, s, "idx/1", "a", "idx/2", "b", "idx/3", "zzz", "rec/a", "A", "rec/b", "B")
	update(t, s, func(tx kv.Tx) error { return tx.Add([]byte("hits"), 9) })
	for _, inUpdate := range []bool{false, true} {
		var got []string
		var writeErr error
		fn := func(tx kv.Tx) error {
			got, writeErr = nil, nil
			return tx.Scan(kv.ScanOptions{Start: []byte("idx/"), End: kv.PrefixEnd([]byte("idx/"))}, func(k, v []byte) error {
				// Reads through the same Tx are allowed while a scan is in progress.
				rec, err := tx.Get(append([]byte("rec/"), v...))
				if errors.Is(err, kv.ErrNotFound) {
					rec = []byte("-")
				} else if err != nil {
					return fmt.Errorf("tx.Get inside Scan: %w", err)
				}
				n, err := tx.Counter([]byte("hits"))
				if err != nil {
					return fmt.Errorf("tx.Counter inside Scan: %w", err)
				}
				inner := 0
				if err := tx.Scan(kv.ScanOptions{Start: []byte("rec/")}, func(k, v []byte) error {
					inner++
					return nil
				}); err != nil {
					return fmt.Errorf("nested Scan: %w", err)
				}
				got = append(got, fmt.Sprintf("%s:%s:%d:%d", k, rec, n, inner))
				if inUpdate && writeErr == nil {
					// Writes from inside a scan callback are refused.
					writeErr = tx.Put([]byte("idx/0"), []byte("x"))
					if writeErr == nil {
						return errors.New("tx.Put inside a Scan callback succeeded")
					}
				}
				return nil
			})
		}
		if inUpdate {
			update(t, s, fn)
		} else {
			view(t, s, fn)
		}
		want := []string{"idx/1:A:9:2", "idx/2:B:9:2", "idx/3:-:9:2"}
		if !equalStrings(got, want) {
			t.Fatalf("inUpdate=%v: got %q, want %q", inUpdate, got, want)
		}
	}
	wantMissing(t, s, "idx/0")
	// After the scan, writes work again.
	update(t, s, func(tx kv.Tx) error {
		if err := tx.Scan(kv.ScanOptions{}, func(k, v []byte) error { return kv.ErrStop }); err != nil {
			return err
		}
		return tx.Put([]byte("after"), []byte("1"))
	})
	wantValue(t, s, "after", "1")
}

func testLongKeys(t *testing.T, b Backend) {
	s := open(t, b)
	base := patterned(kv.MaxKeySize, 9)
	var keys [][]byte
	for _, n := range []int{1, 2, 500, 1023, 1024, 1025, 1026, 2047, 2048, 2049, 3000, kv.MaxKeySize - 1, kv.MaxKeySize} {
		keys = append(keys, base[:n])
		// A sibling that differs in the last byte, and one that differs early.
		sib := append([]byte(nil), base[:n]...)
		sib[n-1] ^= 0x80
		keys = append(keys, sib)
		if n > 10 {
			early := append([]byte(nil), base[:n]...)
			early[5] ^= 0x01
			keys = append(keys, early)
		}
	}
	update(t, s, func(tx kv.Tx) error {
		for i, k := range keys {
			if err := tx.Put(k, []byte(strconv.Itoa(i))); err != nil {
				return fmt.Errorf("put key of %d bytes: %w", len(k), err)
			}
		}
		return nil
	})
	sorted := make([]string, 0, len(keys))
	index := map[string]int{}
	for i, k := range keys {
		if _, dup := index[string(k)]; dup {
			t.Fatalf("test generated a duplicate key of %d bytes", len(k))
		}
		index[string(k)] = i
		sorted = append(sorted, string(k))
	}
	slices.Sort(sorted)

	for _, reverse := range []bool{false, true} {
		want := sorted
		if reverse {
			want = reversed(sorted)
		}
		got := scan(t, s, kv.ScanOptions{Reverse: reverse})
		if !equalStrings(keysOf(got), want) {
			t.Fatalf("reverse=%v: long keys scanned out of bytewise order (%d keys, want %d)", reverse, len(got), len(want))
		}
		for _, p := range got {
			if p.v != strconv.Itoa(index[p.k]) {
				t.Fatalf("key of %d bytes has value %q, want %d", len(p.k), p.v, index[p.k])
			}
		}
	}
	// Ranges bounded by long keys, one key at a time, as a pager would.
	for i := 0; i+1 < len(sorted); i++ {
		got := scan(t, s, kv.ScanOptions{Start: []byte(sorted[i]), End: []byte(sorted[i+1])})
		if len(got) != 1 || got[0].k != sorted[i] {
			t.Fatalf("range [key %d, key %d) returned %d keys", i, i+1, len(got))
		}
		got = scan(t, s, kv.ScanOptions{End: []byte(sorted[i+1]), Reverse: true, Limit: 1})
		if len(got) != 1 || got[0].k != sorted[i] {
			t.Fatalf("reverse scan below key %d returned %d keys, not key %d", i+1, len(got), i)
		}
	}
	for _, k := range keys {
		view(t, s, func(tx kv.Tx) error {
			v, err := tx.Get(k)
			if err != nil || string(v) != strconv.Itoa(index[string(k)]) {
				return fmt.Errorf("Get(key of %d bytes) = %q, %v", len(k), v, err)
			}
			return nil
		})
	}
}
