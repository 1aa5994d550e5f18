package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/kvtest"
)

func openTemp(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "kv.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	kvtest.RunBackend(t, kvtest.Backend{
		Open: func(t *testing.T) kv.Store { return openTemp(t, Options{}) },
		Reopen: func(t *testing.T, closed kv.Store) kv.Store {
			s, err := Open(closed.(*Store).Path(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notBolt := filepath.Join(dir, "not-bolt")
	if err := os.WriteFile(notBolt, bytes.Repeat([]byte("junk"), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
	}{
		{"missing directory", filepath.Join(dir, "missing", "kv.db")},
		{"not a bolt file", notBolt},
		{"directory", dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.path, Options{LockTimeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("error %q does not name the path", err)
			}
		})
	}
}

func TestLockTimeout(t *testing.T) {
	s := openTemp(t, Options{})
	defer s.Close()
	start := time.Now()
	s2, err := Open(s.Path(), Options{LockTimeout: 100 * time.Millisecond})
	if err == nil {
		s2.Close()
		t.Fatal("second Open of a file in use succeeded")
	}
	if !errors.Is(err, bolterrors.ErrTimeout) || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second Open error = %v, want a lock timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second Open took %v despite a 100ms timeout", d)
	}
}

func TestCorruptCounter(t *testing.T) {
	s := openTemp(t, Options{})
	defer s.Close()
	err := s.db.Update(func(btx *bbolt.Tx) error {
		return btx.Bucket(bucketCounters).Put([]byte("c"), []byte{1, 2, 3})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(t.Context(), func(tx kv.Tx) error {
		_, err := tx.Counter([]byte("c"))
		return err
	})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Counter of a 3-byte value: %v, want ErrCorrupt", err)
	}
	err = s.Update(t.Context(), func(tx kv.Tx) error { return tx.Add([]byte("c"), 1) })
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Add to a 3-byte value: %v, want ErrCorrupt", err)
	}
}

func benchStore(b *testing.B, opts Options) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "kv.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkUpdate measures one small Put per transaction, with and without fsync.
func BenchmarkUpdate(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{{"fsync", Options{}}, {"nosync", Options{NoSync: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			s := benchStore(b, bc.opts)
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
		})
	}
}

// BenchmarkScan measures scanning 100 keys of a 10 000-key store.
func BenchmarkScan(b *testing.B) {
	const keys, page = 10000, 100
	s := benchStore(b, Options{NoSync: true})
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

// TestInitialMmapSize writes past bbolt's 16 MiB growth step with the default, a negative
// (start small, remap as the file grows) and an explicit map size: the data survives a
// reopen and the file grows with the data, not to the size of the map.
func TestInitialMmapSize(t *testing.T) {
	for _, size := range []int{0, -1, 4 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kv.db")
			s, err := Open(path, Options{NoSync: true, InitialMmapSize: size})
			if err != nil {
				t.Fatal(err)
			}
			value := bytes.Repeat([]byte("v"), 64<<10)
			const n = 320 // 20 MiB of values
			for i := 0; i < n; i += 32 {
				err := s.Update(context.Background(), func(tx kv.Tx) error {
					for j := i; j < i+32; j++ {
						if err := tx.Put([]byte(fmt.Sprintf("k%04d", j)), value); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() > 64<<20 {
				t.Fatalf("file: %v, %v bytes for 20 MiB of values", err, fi.Size())
			}
			s, err = Open(path, Options{InitialMmapSize: size})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.View(context.Background(), func(tx kv.Tx) error {
				for _, j := range []int{0, n / 2, n - 1} {
					v, err := tx.Get([]byte(fmt.Sprintf("k%04d", j)))
					if err != nil || !bytes.Equal(v, value) {
						return fmt.Errorf("k%04d: %v", j, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
