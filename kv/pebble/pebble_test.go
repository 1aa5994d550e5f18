package pebble

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/kvtest"
)

func openTemp(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "kv"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	var mu sync.Mutex
	fss := map[kv.Store]*holdFS{}
	kvtest.RunBackend(t, kvtest.Backend{
		Open: func(t *testing.T) kv.Store {
			fs := &holdFS{FS: vfs.Default, waiting: make(chan struct{}, 1)}
			s := openTemp(t, Options{fs: fs})
			mu.Lock()
			fss[s] = fs
			mu.Unlock()
			return s
		},
		Hold: func(t *testing.T, s kv.Store) func(error) {
			mu.Lock()
			fs := fss[s]
			mu.Unlock()
			fs.hold()
			return fs.releaseWith
		},
		Reopen: func(t *testing.T, closed kv.Store) kv.Store {
			s, err := Open(closed.(*Store).Path(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}

// TestMemTableSize checks that Options.MemTableSize sets the memtable: 3 MiB of writes
// flush a 1 MiB memtable, not the default one; a negative size is refused by name.
func TestMemTableSize(t *testing.T) {
	write := func(s *Store) {
		t.Helper()
		val := make([]byte, 1024)
		for b := range 3 {
			err := s.Update(context.Background(), func(tx kv.Tx) error {
				for i := range 1024 {
					if err := tx.Put(fmt.Appendf(nil, "k/%d/%d", b, i), val); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	small := openTemp(t, Options{NoSync: true, MemTableSize: 1 << 20})
	defer small.Close()
	write(small)
	def := openTemp(t, Options{NoSync: true})
	defer def.Close()
	write(def)
	if n := small.db.Metrics().Flush.Count; n == 0 {
		t.Errorf("3 MiB written into a 1 MiB memtable: %d flushes, want some", n)
	}
	if n := def.db.Metrics().Flush.Count; n != 0 {
		t.Errorf("3 MiB written into the default %d-byte memtable: %d flushes, want none", DefaultMemTableSize, n)
	}
	_, err := Open(filepath.Join(t.TempDir(), "neg"), Options{MemTableSize: -1})
	if err == nil || !strings.Contains(err.Error(), "MemTableSize -1") {
		t.Errorf("Open with MemTableSize -1: %v, want an error naming MemTableSize", err)
	}
}
