package dagbomb_test

import (
	"slices"
	"testing"

	"github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/internal/dagbomb"
	"github.com/w3dag/w3dag/internal/imports"
	"github.com/w3dag/w3dag/message"
)

// TestBuild checks the shape Build promises: the empty node, then one node a level, each
// linking the one below as often as its level says, the root last, every block's CID its
// bytes' and a directory's links named.
func TestBuild(t *testing.T) {
	blocks, err := dagbomb.Build(dagbomb.Level{Type: ft.TFile, Links: 3, Size: 1}, dagbomb.Level{Type: ft.TDirectory, Links: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 3 || dagbomb.Root(blocks) != blocks[2].CID {
		t.Fatalf("%d blocks, root %s", len(blocks), dagbomb.Root(blocks))
	}
	for i, b := range blocks {
		if got := message.NewBlock(cid.DagProtobuf, b.Data).CID; got != b.CID {
			t.Errorf("block %d: CID %s, its bytes' %s", i, b.CID, got)
		}
	}
	for i, want := range []struct {
		links int
		name  string
		size  uint64
	}{{0, "", 0}, {3, "", 3}, {2, "n1", 0}} {
		pn, err := merkledag.DecodeProtobuf(blocks[i].Data)
		if err != nil {
			t.Fatal(err)
		}
		n, err := ft.FSNodeFromBytes(pn.Data())
		if err != nil {
			t.Fatal(err)
		}
		if len(pn.Links()) != want.links || (want.links > 0 && pn.Links()[want.links-1].Cid != blocks[i-1].CID) {
			t.Errorf("block %d: %d links, want %d to the block below", i, len(pn.Links()), want.links)
		}
		if want.name != "" && pn.Links()[1].Name != want.name {
			t.Errorf("block %d: second link named %q, want %q", i, pn.Links()[1].Name, want.name)
		}
		if i < 2 && n.FileSize() != want.size {
			t.Errorf("block %d: file size %d, want %d", i, n.FileSize(), want.size)
		}
	}
	if levels := dagbomb.Uniform(ft.TFile, 3, 7); len(levels) != 3 || slices.ContainsFunc(levels, func(l dagbomb.Level) bool { return l.Links != 7 || l.Type != ft.TFile }) {
		t.Errorf("Uniform: %+v", levels)
	}
}

// TestImports checks what doc.go promises.
func TestImports(t *testing.T) {
	allowed := []string{
		"github.com/ipfs/boxo/ipld/merkledag", "github.com/ipfs/boxo/ipld/unixfs", "github.com/ipfs/boxo/ipld/unixfs/pb",
		"github.com/ipfs/go-cid", "github.com/ipfs/go-ipld-format", "github.com/w3dag/w3dag/message",
	}
	imports.Check(t, ".", 6, func(path string) bool { return imports.Std(path) || slices.Contains(allowed, path) })
}
