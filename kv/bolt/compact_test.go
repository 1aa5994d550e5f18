package bolt

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/w3dag/w3dag/kv"
)

// TestCompact: after most of a store's data is deleted (the archive outbox once its
// messages are moved), the file keeps its size; Compact shrinks it and keeps what is live,
// and refuses a store another process holds open.
func TestCompact(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kv.db")
	s, err := Open(path, Options{NoSync: true, InitialMmapSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("m"), 64<<10)
	for i := range 20 {
		if err := s.Update(ctx, func(tx kv.Tx) error {
			for j := range 16 {
				if err := tx.Put(fmt.Appendf(nil, "outbox/workflow/%03d-%02d", i, j), value); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(ctx, func(tx kv.Tx) error {
		if err := tx.Put([]byte("keep"), []byte("live")); err != nil {
			return err
		}
		start := []byte("outbox/")
		var keys [][]byte
		if err := tx.Scan(kv.ScanOptions{Start: start, End: kv.PrefixEnd(start)}, func(k, _ []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			return nil
		}); err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Compact(path, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("Compact of an open store: %v, want a lock error", err)
	}
	s.Close()
	before, after, err := Compact(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if before < 20<<20 || after > before/8 {
		t.Fatalf("Compact: %d bytes before, %d after; want the 20 MiB of deleted values given back", before, after)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.View(ctx, func(tx kv.Tx) error {
		v, err := tx.Get([]byte("keep"))
		if err != nil || string(v) != "live" {
			return fmt.Errorf("live key after Compact = %q, %v", v, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
