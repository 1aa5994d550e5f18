package blobtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/blob"
)

func testList(t *testing.T, st blob.Store) {
	// Keys chosen so that key order differs from a naive directory walk: '-' and '.' sort
	// before '/'.
	keys := []string{"a-c", "a/b", "a/c/d", "a.b", "ab", "b", "carpark/x/x.car", "carpark/y/y.car", "a/c-d", "a/c/e"}
	sizes := map[string]int64{}
	for i, k := range keys {
		data := randomBytes(uint64(100+i), 10+i)
		sizes[k] = int64(len(data))
		mustPut(t, st, k, data)
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	filter := func(prefix string) []string {
		var out []string
		for _, k := range sorted {
			if strings.HasPrefix(k, prefix) {
				out = append(out, k)
			}
		}
		return out
	}
	for _, prefix := range []string{"", "a", "a/", "a/c", "a/c/", "a/c/d", "a.", "carpark/", "carpark/y", "b", "zz", "../", "/", "a//", "c"} {
		got := listKeys(t, st, prefix)
		if want := filter(prefix); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
	err := st.List(ctxT(t), "", func(info blob.Info) error {
		if info.Size != sizes[info.Key] {
			t.Errorf("List info for %q has size %d, want %d", info.Key, info.Size, sizes[info.Key])
		}
		if info.Modified.IsZero() {
			t.Errorf("List info for %q has no Modified time", info.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
}

func testListStop(t *testing.T, st blob.Store) {
	for i := range 5 {
		mustPut(t, st, fmt.Sprintf("s/%d", i), []byte{byte(i)})
	}
	var seen []string
	err := st.List(ctxT(t), "s/", func(info blob.Info) error {
		seen = append(seen, info.Key)
		if len(seen) == 2 {
			return blob.ErrStop
		}
		return nil
	})
	if err != nil || !slices.Equal(seen, []string{"s/0", "s/1"}) {
		t.Fatalf("List stopped after 2 = %q, %v; want [s/0 s/1], nil", seen, err)
	}
	boom := errors.New("boom")
	calls := 0
	err = st.List(ctxT(t), "s/", func(blob.Info) error { calls++; return fmt.Errorf("callback: %w", boom) })
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("List with failing callback = %v after %d calls, want boom after 1", err, calls)
	}
}
