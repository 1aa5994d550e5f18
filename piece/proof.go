package piece

import (
	"bytes"
	"fmt"

	"github.com/ipfs/go-cid"
)

// Node is a tree node.
type Node [NodeSize]byte

// ProofData is a Merkle path: the siblings from a node up to the root, and
// the node's index among the nodes of its level (bit k of Index says whether
// the node is a right child at step k).
type ProofData struct {
	Path  []Node
	Index uint64
}

// Depth is the number of steps from the node to the root.
func (d ProofData) Depth() int { return len(d.Path) }

// ComputeRoot folds the path over node.
func (d ProofData) ComputeRoot(node [NodeSize]byte) ([NodeSize]byte, error) {
	if d.Depth() > MaxHeight {
		return node, fmt.Errorf("path of %d nodes is deeper than %d", d.Depth(), MaxHeight)
	}
	if d.Index>>d.Depth() != 0 {
		return node, fmt.Errorf("index %d is outside a level of %d nodes", d.Index, uint64(1)<<d.Depth())
	}
	idx := d.Index
	for i := range d.Path {
		p := [NodeSize]byte(d.Path[i])
		if idx&1 == 1 {
			node = hashPair(&p, &node)
		} else {
			node = hashPair(&node, &p)
		}
		idx >>= 1
	}
	return node, nil
}

// InclusionProof shows that a piece is in an aggregate: Subtree is the path
// from the piece's root to the aggregate's root, Index the path from the
// piece's index entry (a level-1 node) to the same root.
type InclusionProof struct {
	Subtree ProofData
	Index   ProofData
}

// VerifyInclusion checks proof against the aggregate's and the piece's v2
// piece CIDs (which carry the deal's and the piece's sizes).
func VerifyInclusion(aggregate, piece cid.Cid, proof InclusionProof) error {
	a, err := FromCID(aggregate)
	if err != nil {
		return wrapf(ErrInclusion, "aggregate: %v", err)
	}
	p, err := FromCID(piece)
	if err != nil {
		return wrapf(ErrInclusion, "piece: %v", err)
	}
	return proof.Verify(a, p)
}

// Verify checks the proof against the aggregate's and the piece's roots and
// heights (their payload sizes are not used):
//  1. the subtree path has the aggregate's height minus the piece's and
//     leads from the piece's root to the aggregate's root;
//  2. the index entry for the piece at the offset that path implies (its
//     index × the piece's padded size) leads, by the index path, from level 1
//     to the same root;
//  3. that entry lies in the deal's index area and the piece before it.
func (proof InclusionProof) Verify(aggregate, piece Piece) error {
	if err := aggregate.Validate(); err != nil {
		return wrapf(ErrInclusion, "aggregate: %v", err)
	}
	if err := piece.Validate(); err != nil {
		return wrapf(ErrInclusion, "piece: %v", err)
	}
	dealSize := aggregate.PaddedSize()
	if err := CheckDealSize(dealSize); err != nil {
		return wrapf(ErrInclusion, "aggregate: %v", err)
	}
	if piece.Height < MinHeight || piece.Height >= aggregate.Height {
		return wrapf(ErrInclusion, "a piece of height %d cannot be in an aggregate of height %d", piece.Height, aggregate.Height)
	}
	if want := aggregate.Height - piece.Height; proof.Subtree.Depth() != want {
		return wrapf(ErrInclusion, "subtree proof has %d steps, want %d (aggregate height %d − piece height %d)", proof.Subtree.Depth(), want, aggregate.Height, piece.Height)
	}
	root, err := proof.Subtree.ComputeRoot(piece.Root)
	if err != nil {
		return wrapf(ErrInclusion, "subtree proof: %v", err)
	}
	if root != aggregate.Root {
		return wrapf(ErrInclusion, "subtree proof leads to %x, not the aggregate's root %x", root, aggregate.Root)
	}
	size := piece.PaddedSize()
	offset := proof.Subtree.Index * size
	indexStart := IndexStart(dealSize)
	if offset+size > indexStart {
		return wrapf(ErrInclusion, "the piece at [%d, %d) overlaps the index at %d", offset, offset+size, indexStart)
	}
	if want := aggregate.Height - 1; proof.Index.Depth() != want {
		return wrapf(ErrInclusion, "index proof has %d steps, want %d", proof.Index.Depth(), want)
	}
	if at := proof.Index.Index * EntrySize; at < indexStart {
		return wrapf(ErrInclusion, "index entry proven at %d, before the index area [%d, %d)", at, indexStart, dealSize)
	}
	root, err = proof.Index.ComputeRoot(NewIndexEntry(piece.Root, offset, size).node())
	if err != nil {
		return wrapf(ErrInclusion, "index proof: %v", err)
	}
	if root != aggregate.Root {
		return wrapf(ErrInclusion, "index proof of the entry (offset %d, size %d) leads to %x, not the aggregate's root %x", offset, size, root, aggregate.Root)
	}
	return nil
}

// DAG-CBOR encoding: [[[path…], index], [[path…], index]], each path node a
// 32-byte byte string, each index an unsigned integer (canonical, minimal).
const (
	cborUint  = 0 << 5
	cborBytes = 2 << 5
	cborArray = 4 << 5
)

func appendHead(b []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, major|byte(n))
	case n <= 0xff:
		return append(b, major|24, byte(n))
	case n <= 0xffff:
		return append(b, major|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(b, major|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, major|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func (d ProofData) appendCBOR(b []byte) []byte {
	b = appendHead(b, cborArray, 2)
	b = appendHead(b, cborArray, uint64(len(d.Path)))
	for _, n := range d.Path {
		b = appendHead(b, cborBytes, NodeSize)
		b = append(b, n[:]...)
	}
	return appendHead(b, cborUint, d.Index)
}

// MarshalBinary encodes the proof as DAG-CBOR.
func (proof InclusionProof) MarshalBinary() ([]byte, error) {
	b := appendHead(nil, cborArray, 2)
	b = proof.Subtree.appendCBOR(b)
	return proof.Index.appendCBOR(b), nil
}

// UnmarshalBinary decodes DAG-CBOR from MarshalBinary, rejecting anything
// else (non-minimal integers, wrong types or lengths, paths deeper than
// MaxHeight, trailing bytes) with ErrMalformedProof.
func (proof *InclusionProof) UnmarshalBinary(data []byte) error {
	p, err := DecodeInclusionProof(data)
	if err != nil {
		return err
	}
	*proof = p
	return nil
}

// DecodeInclusionProof decodes a proof encoded by MarshalBinary.
func DecodeInclusionProof(data []byte) (InclusionProof, error) {
	d := &cborReader{b: data}
	var p InclusionProof
	if err := d.array(2, "proof"); err != nil {
		return p, err
	}
	var err error
	if p.Subtree, err = d.proofData("subtree proof"); err != nil {
		return InclusionProof{}, err
	}
	if p.Index, err = d.proofData("index proof"); err != nil {
		return InclusionProof{}, err
	}
	if len(d.b) != d.off {
		return InclusionProof{}, wrapf(ErrMalformedProof, "%d trailing bytes after the proof", len(d.b)-d.off)
	}
	return p, nil
}

type cborReader struct {
	b   []byte
	off int
}

// head reads a CBOR item head and returns its major type and argument,
// requiring the shortest encoding.
func (d *cborReader) head(what string) (byte, uint64, error) {
	if d.off >= len(d.b) {
		return 0, 0, wrapf(ErrMalformedProof, "%s: unexpected end of input at byte %d", what, d.off)
	}
	ib := d.b[d.off]
	d.off++
	major, info := ib&0xe0, ib&0x1f
	var n uint64
	var size int
	switch {
	case info < 24:
		return major, uint64(info), nil
	case info == 24:
		size = 1
	case info == 25:
		size = 2
	case info == 26:
		size = 4
	case info == 27:
		size = 8
	default:
		return 0, 0, wrapf(ErrMalformedProof, "%s: unsupported CBOR additional info %d at byte %d (indefinite lengths are not DAG-CBOR)", what, info, d.off-1)
	}
	if len(d.b)-d.off < size {
		return 0, 0, wrapf(ErrMalformedProof, "%s: unexpected end of input at byte %d", what, d.off)
	}
	for _, c := range d.b[d.off : d.off+size] {
		n = n<<8 | uint64(c)
	}
	d.off += size
	if n < minimalFrom(size) {
		return 0, 0, wrapf(ErrMalformedProof, "%s: integer %d not minimally encoded", what, n)
	}
	return major, n, nil
}

func (d *cborReader) array(want uint64, what string) error {
	major, n, err := d.head(what)
	if err != nil {
		return err
	}
	if major != cborArray || n != want {
		return wrapf(ErrMalformedProof, "%s: want an array of %d, got major type %d with argument %d", what, want, major>>5, n)
	}
	return nil
}

func (d *cborReader) proofData(what string) (ProofData, error) {
	var p ProofData
	if err := d.array(2, what); err != nil {
		return p, err
	}
	major, n, err := d.head(what + " path")
	if err != nil {
		return p, err
	}
	if major != cborArray {
		return p, wrapf(ErrMalformedProof, "%s path: want an array, got major type %d", what, major>>5)
	}
	if n > MaxHeight {
		return p, wrapf(ErrMalformedProof, "%s path: %d nodes, at most %d", what, n, MaxHeight)
	}
	p.Path = make([]Node, n)
	for i := range p.Path {
		major, size, err := d.head(fmt.Sprintf("%s node %d", what, i))
		if err != nil {
			return ProofData{}, err
		}
		if major != cborBytes || size != NodeSize {
			return ProofData{}, wrapf(ErrMalformedProof, "%s node %d: want %d bytes, got major type %d with argument %d", what, i, NodeSize, major>>5, size)
		}
		if len(d.b)-d.off < NodeSize {
			return ProofData{}, wrapf(ErrMalformedProof, "%s node %d: unexpected end of input", what, i)
		}
		copy(p.Path[i][:], d.b[d.off:])
		d.off += NodeSize
	}
	major, p.Index, err = d.head(what + " index")
	if err != nil {
		return ProofData{}, err
	}
	if major != cborUint {
		return ProofData{}, wrapf(ErrMalformedProof, "%s index: want an unsigned integer, got major type %d", what, major>>5)
	}
	if p.Index>>len(p.Path) != 0 {
		return ProofData{}, wrapf(ErrMalformedProof, "%s index %d is outside a level of %d nodes", what, p.Index, uint64(1)<<len(p.Path))
	}
	return p, nil
}

// Equal reports whether two proofs are the same.
func (proof InclusionProof) Equal(other InclusionProof) bool {
	a, _ := proof.MarshalBinary()
	b, _ := other.MarshalBinary()
	return bytes.Equal(a, b)
}

// minimalFrom is the smallest argument that needs a size-byte encoding.
func minimalFrom(size int) uint64 {
	switch size {
	case 1:
		return 24
	case 2:
		return 0x100
	case 4:
		return 0x10000
	}
	return 0x100000000
}
