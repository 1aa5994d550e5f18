package unixfs_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/client/unixfs"
)

// dedupCAR imports paths and returns the root and a CAR holding each distinct block once
// (what a gateway answers with dups=n): a DAG that repeats a leaf is small as a CAR.
func dedupCAR(t *testing.T, paths []string) (cid.Cid, []byte) {
	t.Helper()
	files, err := unixfs.List(paths, unixfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[cid.Cid]bool{}
	var sh unixfs.Shard
	s := unixfs.NewSharder(t.TempDir(), 1<<40, func(x unixfs.Shard) error { sh = x; return nil })
	root, err := unixfs.Import(context.Background(), files, unixfs.Options{}, func(b blocks.Block) error {
		if seen[b.Cid()] {
			return nil
		}
		seen[b.Cid()] = true
		return s.Add(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(sh.Path)
	if err != nil {
		t.Fatal(err)
	}
	return root, data
}

// TestExtractMaxBytes: ExtractOptions.MaxBytes bounds the CAR stream read and, apart, the
// bytes of the files written (all together); past either Extract fails with ErrTooLarge
// and leaves nothing behind.
func TestExtractMaxBytes(t *testing.T) {
	in := t.TempDir()
	const mib = 1 << 20
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(in, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	small := write("small.txt", content("small.txt", 3000))
	// 4 MiB of zeros: four identical 1 MiB leaves, one block in a deduplicated CAR.
	zeros := write("zeros.bin", make([]byte, 4*mib))
	// Two files of the same 1 MiB: one leaf, two files.
	write("twins/a", bytes.Repeat([]byte{7}, mib))
	write("twins/b", bytes.Repeat([]byte{7}, mib))
	twins := filepath.Join(in, "twins")

	smallRoot, smallCAR := dedupCAR(t, []string{small})
	zerosRoot, zerosCAR := dedupCAR(t, []string{zeros})
	twinsRoot, twinsCAR := dedupCAR(t, []string{twins})
	if len(zerosCAR) > mib+64<<10 || len(twinsCAR) > mib+64<<10 {
		t.Fatalf("deduplicated CARs of %d and %d bytes, want about 1 MiB", len(zerosCAR), len(twinsCAR))
	}
	for _, tc := range []struct {
		name     string
		root     cid.Cid
		car      []byte
		maxBytes int64
		want     error
		text     string
	}{
		{"within the limit", smallRoot, smallCAR, 1 << 20, nil, ""},
		{"a stream of exactly the limit", smallRoot, smallCAR, int64(len(smallCAR)), nil, ""},
		{"a stream one byte over the limit", smallRoot, smallCAR, int64(len(smallCAR)) - 1, unixfs.ErrTooLarge, "CAR stream is longer than"},
		{"the default limit", smallRoot, smallCAR, 0, nil, ""},
		{"a file larger than its CAR", zerosRoot, zerosCAR, 2 * mib, unixfs.ErrTooLarge, "files would hold more than 2097152 bytes"},
		{"a file larger than its CAR, within the limit", zerosRoot, zerosCAR, 4 * mib, nil, ""},
		{"files together over the limit", twinsRoot, twinsCAR, 3 * mib / 2, unixfs.ErrTooLarge, "files would hold more than"},
		{"files together within the limit", twinsRoot, twinsCAR, 2*mib + 64<<10, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			err := unixfs.Extract(context.Background(), bytes.NewReader(tc.car), tc.root, nil, out, unixfs.ExtractOptions{MaxBytes: tc.maxBytes})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Extract: %v", err)
				}
				if _, err := os.Stat(out); err != nil {
					t.Fatalf("no output: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Extract: %v, want %v mentioning %q", err, tc.want, tc.text)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("left %v behind", left)
			}
		})
	}
}
