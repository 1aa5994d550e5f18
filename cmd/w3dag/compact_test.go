package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/bolt"
)

// TestCompact: `w3dag compact` shrinks a data folder's bolt file whose outbox was emptied,
// keeps what is live, and says clearly when the store is held open or missing.
func TestCompact(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	data := t.TempDir()
	path := filepath.Join(data, boltFile)
	s, err := bolt.Open(path, bolt.Options{NoSync: true, InitialMmapSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 60<<10)
	for i := range 10 {
		if err := s.Update(ctx, func(tx kv.Tx) error {
			for j := range 16 {
				if err := tx.Put(fmt.Appendf(nil, "outbox/workflow/%d-%d", i, j), big); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(ctx, func(tx kv.Tx) error {
		for i := range 10 {
			for j := range 16 {
				if err := tx.Delete(fmt.Appendf(nil, "outbox/workflow/%d-%d", i, j)); err != nil {
					return err
				}
			}
		}
		return tx.Put([]byte("meta/kept"), []byte("yes"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := cli(t, "compact", "--data", data); code != 1 || !strings.Contains(stderr, "locked") {
		t.Errorf("compact of an open store: exit %d, %q; want 1 naming the lock", code, stderr)
	}
	s.Close()
	st, _ := os.Stat(path)
	stdout, stderr, code := cli(t, "compact", "--data", data)
	if code != 0 || !strings.Contains(stdout, "compacted") {
		t.Fatalf("compact: exit %d, %q %q", code, stdout, stderr)
	}
	st2, _ := os.Stat(path)
	if st2.Size() > st.Size()/4 {
		t.Errorf("compact: %d bytes before, %d after", st.Size(), st2.Size())
	}
	s, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.View(ctx, func(tx kv.Tx) error {
		v, err := tx.Get([]byte("meta/kept"))
		if err != nil || string(v) != "yes" {
			return fmt.Errorf("live key after compact = %q, %v", v, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := cli(t, "compact", "--data", t.TempDir()); code != 1 || !strings.Contains(stderr, "holds no bolt store") {
		t.Errorf("compact of a folder without w3dag.db: exit %d, %q", code, stderr)
	}
}
