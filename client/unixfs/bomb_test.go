package unixfs_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ft "github.com/ipfs/boxo/ipld/unixfs"
	pb "github.com/ipfs/boxo/ipld/unixfs/pb"
	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/client/unixfs"
	"github.com/w3dag/w3dag/internal/dagbomb"
	"github.com/w3dag/w3dag/message"
)

// bombCAR returns the root and a CAR of the blocks (what a gateway answers with dups=n)
// of levels nodes of type typ over an empty file node, each linking the one below k times.
func bombCAR(t *testing.T, typ pb.Data_DataType, levels, k int) (cid.Cid, []byte) {
	t.Helper()
	blocks, err := dagbomb.Build(dagbomb.Uniform(typ, levels, k)...)
	if err != nil {
		t.Fatal(err)
	}
	car, err := message.EncodeCAR([]cid.Cid{dagbomb.Root(blocks)}, blocks)
	if err != nil {
		t.Fatal(err)
	}
	return dagbomb.Root(blocks), car
}

// TestExtractBombs: a small CAR whose DAG links the same nodes over and over fails
// Extract quickly and leaves nothing behind. Before the bounds, the file of 10⁶ empty
// nodes was read node by node with nothing written (10⁹ for 1,000 links a node, from a
// CAR of the same four blocks), and the directories created an empty file for every
// path through them (10⁶ here).
func TestExtractBombs(t *testing.T) {
	fileRoot, fileCAR := bombCAR(t, ft.TFile, 3, 100)
	dirRoot, dirCAR := bombCAR(t, ft.TDirectory, 3, 100)
	oneDirRoot, oneDirCAR := bombCAR(t, ft.TDirectory, 1, 100)
	for _, tc := range []struct {
		name       string
		root       cid.Cid
		car        []byte
		maxEntries int64
		want       error
		text       string
	}{
		{"a file of 10⁶ empty nodes", fileRoot, fileCAR, 0, unixfs.ErrMalformed, "more than 4096 DAG nodes in a row hold no bytes"},
		{"10⁶ empty files under 10⁴ directories", dirRoot, dirCAR, 1000, unixfs.ErrTooManyEntries, "more than 1000"},
		{"a directory of 100 empty files, at the limit", oneDirRoot, oneDirCAR, 101, nil, ""},
		{"a directory of 100 empty files, one over", oneDirRoot, oneDirCAR, 100, unixfs.ErrTooManyEntries, "more than 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			start := time.Now()
			err := unixfs.Extract(context.Background(), bytes.NewReader(tc.car), tc.root, nil, out, unixfs.ExtractOptions{MaxEntries: tc.maxEntries})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Extract: %v", err)
				}
				entries, err := os.ReadDir(out)
				if err != nil || len(entries) != 100 {
					t.Fatalf("%d entries written (%v), want 100", len(entries), err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Extract: %v, want %v mentioning %q", err, tc.want, tc.text)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("left %v behind", left)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("failed after %s", d)
			}
		})
	}
}
