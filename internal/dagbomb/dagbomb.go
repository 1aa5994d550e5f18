package dagbomb

import (
	"fmt"

	"github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	pb "github.com/ipfs/boxo/ipld/unixfs/pb"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/w3dag/w3dag/message"
)

// Level is one level of a bomb: a dag-pb node of UnixFS type Type linking the level below
// it Links times. A directory names its links n0, n1, …; a file gives each link Size
// bytes in its blocksizes (its own size is their sum, as a root's is read).
type Level struct {
	Type  pb.Data_DataType
	Links int
	Size  uint64
}

// Build returns the blocks of the levels over an empty file node, bottom first: the
// empty node, then one node a level. The last block is the root.
func Build(levels ...Level) ([]message.Block, error) {
	below, err := node(Level{Type: ft.TFile}, nil)
	if err != nil {
		return nil, err
	}
	blocks := []message.Block{{CID: below.Cid(), Data: below.RawData()}}
	for _, l := range levels {
		if below, err = node(l, below); err != nil {
			return nil, err
		}
		blocks = append(blocks, message.Block{CID: below.Cid(), Data: below.RawData()})
	}
	return blocks, nil
}

// Root returns the CID of the root of blocks as Build returns them.
func Root(blocks []message.Block) cid.Cid { return blocks[len(blocks)-1].CID }

// Uniform returns n levels of type typ, each of k links saying they hold nothing: a file
// of k^n empty nodes, or k^n empty files under directories.
func Uniform(typ pb.Data_DataType, n, k int) []Level {
	levels := make([]Level, n)
	for i := range levels {
		levels[i] = Level{Type: typ, Links: k}
	}
	return levels
}

// node builds the node of level l over child.
func node(l Level, child *merkledag.ProtoNode) (*merkledag.ProtoNode, error) {
	fsn := ft.NewFSNode(l.Type)
	n := new(merkledag.ProtoNode)
	if err := n.SetCidBuilder(merkledag.V1CidPrefix()); err != nil {
		return nil, err
	}
	for i := range l.Links {
		link, err := ipld.MakeLink(child)
		if err != nil {
			return nil, err
		}
		if l.Type == ft.TDirectory {
			link.Name = fmt.Sprintf("n%d", i)
		} else {
			fsn.AddBlockSize(l.Size)
		}
		if err := n.AddRawLink(link.Name, link); err != nil {
			return nil, err
		}
	}
	data, err := fsn.GetBytes()
	if err != nil {
		return nil, err
	}
	n.SetData(data)
	return n, nil
}
