package fs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/w3dag/w3dag/blob"
)

// A Put killed mid-write leaves a "~put-" file that nothing else removes; SweepTemp
// removes those untouched since the cutoff (and the directories left empty), and keeps
// recent ones and blobs.
func TestSweepTemp(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(ctx, "carpark/a/a.car", bytes.NewReader([]byte("kept")), blob.PutOptions{Size: 4}); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	write := func(rel string, mtime time.Time) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), DirPerm); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, 1000), FilePerm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	abandoned := write("carpark/b/"+tempPrefix+"0000000000000001", old)
	beside := write("carpark/a/"+tempPrefix+"0000000000000002", old)
	fresh := write("carpark/c/"+tempPrefix+"0000000000000003", time.Now())
	n, err := s.SweepTemp(ctx, time.Now().Add(-time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("SweepTemp: %d, %v; want 2 removed", n, err)
	}
	for _, p := range []string{abandoned, beside, filepath.Dir(abandoned)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists (%v)", p, err)
		}
	}
	for _, p := range []string{fresh, filepath.Join(dir, "carpark/a/a.car")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	if n, err := s.SweepTemp(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("second SweepTemp: %d, %v", n, err)
	}
}
