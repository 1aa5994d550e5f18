package unixfs_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/client/unixfs"
)

// FuzzExtract feeds arbitrary bytes to Extract as the CAR of a small directory: it must
// fail with an error or write exactly what was imported, never panic.
func FuzzExtract(f *testing.F) {
	in := f.TempDir()
	writeCase(f, in, carCase{"d", map[string]int{"d/a.txt": 100, "d/s/b.txt": 3}})
	root, shards := pack(f, []string{filepath.Join(in, "d")}, unixfs.Options{}, 1<<30)
	good := concat(f, shards)
	f.Add(good, root.Bytes())
	f.Add(good[:len(good)/2], root.Bytes())
	f.Add([]byte{0x0a, 0xa1}, root.Bytes())
	f.Fuzz(func(t *testing.T, data, rootBytes []byte) {
		c, err := cid.Cast(rootBytes)
		if err != nil {
			c = root
		}
		out := filepath.Join(t.TempDir(), "out")
		_ = unixfs.Extract(context.Background(), bytes.NewReader(data), c, nil, out, unixfs.ExtractOptions{})
	})
}
