package pebble

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/w3dag/w3dag/kv"
)

// TestBlockCacheBeyondMemtables holds Open to its promise that the block cache keeps
// CacheSize bytes of blocks whatever the memtables reserve in it: after enough writes to
// fill full-size memtables, blocks read once are served from the cache the second time.
// With a cache of CacheSize alone, two full default memtables reserved all of it.
func TestBlockCacheBeyondMemtables(t *testing.T) {
	if testing.Short() {
		t.Skip("writes about 70 MiB")
	}
	s := openTemp(t, Options{NoSync: true})
	defer s.Close()
	ctx := context.Background()
	const (
		valueSize = 16 << 10
		keys      = 4500 // ~70 MiB: memtables grow to DefaultMemTableSize, and flush
		reread    = 3000 // ~47 MiB of blocks: fits in CacheSize, not in half of it
	)
	key := func(i int) []byte { return fmt.Appendf(nil, "k%05d", i) }
	for i := 0; i < keys; i += 100 {
		err := s.Update(ctx, func(tx kv.Tx) error {
			for j := i; j < min(i+100, keys); j++ {
				v := make([]byte, valueSize)
				rand.Read(v) // incompressible: a block holds about one value
				if err := tx.Put(key(j), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	read := func() {
		t.Helper()
		err := s.View(ctx, func(tx kv.Tx) error {
			for i := range reread {
				if _, err := tx.Get(key(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	read()
	before := s.db.Metrics().BlockCache
	read()
	after := s.db.Metrics().BlockCache
	hits, misses := after.Hits-before.Hits, after.Misses-before.Misses
	if hits < 9*(hits+misses)/10 {
		t.Fatalf("second read of %d values: %d block cache hits, %d misses; want at least 90%% hits (cache holds %d bytes)",
			reread, hits, misses, after.Size)
	}
}
