package gateway

import (
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

func testCID(t *testing.T, i int) cid.Cid {
	t.Helper()
	mh, err := multihash.Sum([]byte(fmt.Sprint(i)), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, mh)
}

// TestLRU: small blocks are kept up to the cache's size, least recently used out first;
// blocks over CacheMaxBlock (a file's leaves) and over a quarter of the cache are not
// kept at all.
func TestLRU(t *testing.T) {
	for _, tc := range []struct {
		name  string
		max   int
		sizes []int // added in order
		get   int   // read again after the adds (index into sizes), -1 none
		kept  []bool
	}{
		{"small blocks fit", 1 << 20, []int{100, 200, 300}, -1, []bool{true, true, true}},
		{"a leaf is not kept", 8 << 20, []int{CacheMaxBlock + 1, 1 << 20, CacheMaxBlock}, -1, []bool{false, false, true}},
		{"over a quarter of the cache", 1000, []int{251, 250}, -1, []bool{false, true}},
		{"least recently used goes first", 1000, []int{250, 250, 250, 250, 250}, -1, []bool{false, true, true, true, true}},
		{"a read keeps a block", 1000, []int{250, 250, 250, 250}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLRU(tc.max)
			for i, n := range tc.sizes {
				l.add(testCID(t, i), make([]byte, n))
			}
			if tc.get >= 0 {
				if _, ok := l.get(testCID(t, tc.get)); !ok {
					t.Fatalf("block %d not kept", tc.get)
				}
				l.add(testCID(t, 99), make([]byte, 250)) // pushes out block 1, not block 0
				if _, ok := l.get(testCID(t, tc.get)); !ok {
					t.Fatalf("block %d, read last, was pushed out", tc.get)
				}
				if _, ok := l.get(testCID(t, 1)); ok {
					t.Fatal("block 1, least recently used, was kept")
				}
				return
			}
			for i, want := range tc.kept {
				if _, ok := l.get(testCID(t, i)); ok != want {
					t.Errorf("block %d (%d bytes) kept = %v, want %v", i, tc.sizes[i], ok, want)
				}
			}
			if l.size > tc.max {
				t.Errorf("cache holds %d bytes, over its %d", l.size, tc.max)
			}
		})
	}
}
