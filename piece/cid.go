package piece

import (
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/multiformats/go-varint"
)

const (
	// CodecRaw is the CID codec of a v2 piece CID (raw, 0x55).
	CodecRaw = 0x55
	// CodecFilCommitmentUnsealed is the CID codec of a v1 piece CID (0xf101).
	CodecFilCommitmentUnsealed = 0xf101
	// MhFr32Sha256Trunc254Padbintree is the multihash of a v2 piece CID
	// (0x1011): digest uvarint(padding) ‖ uint8(height) ‖ root[32].
	MhFr32Sha256Trunc254Padbintree = 0x1011
	// MhSha256Trunc254Padded is the multihash of a v1 piece CID (0x1012): the
	// 32-byte root.
	MhSha256Trunc254Padded = 0x1012
	// maxV2Digest bounds a v2 digest: a 10-byte varint, the height, the root.
	maxV2Digest = varint.MaxLenUvarint63 + 1 + NodeSize
)

// Piece is a piece commitment: the tree root, its height, and the payload size.
type Piece struct {
	// Size is the payload length in bytes.
	Size uint64
	// Height is the tree height, log2(PaddedSize/32).
	Height int
	// Root is the commitment (commP).
	Root [NodeSize]byte
}

// Validate checks that p is a piece this package can place or verify: a
// height in [MinHeight, MaxHeight], a payload no larger than the tree's
// capacity and a trunc254 root. Pieces from Compute and FromCID always are.
func (p Piece) Validate() error {
	if p.Height < MinHeight || p.Height > MaxHeight {
		return fmt.Errorf("piece: height %d outside [%d, %d]", p.Height, MinHeight, MaxHeight)
	}
	if p.Size > capacity(p.Height) {
		return fmt.Errorf("piece: payload of %d bytes exceeds the capacity %d of a height-%d tree", p.Size, capacity(p.Height), p.Height)
	}
	if p.Root[NodeSize-1]&0xC0 != 0 {
		return fmt.Errorf("piece: root %x has its top two bits set (not trunc254)", p.Root)
	}
	return nil
}

// PaddedSize is the Fr32-expanded size of the piece's tree, 32·2^Height
// (Filecoin's "padded piece size").
func (p Piece) PaddedSize() uint64 { return uint64(NodeSize) << p.Height }

// Padding is the number of zero bytes added to the payload to fill the tree's
// capacity 127·2^(Height-2).
func (p Piece) Padding() uint64 { return capacity(p.Height) - p.Size }

// CID returns the v2 (FRC-0069) piece CID.
func (p Piece) CID() cid.Cid {
	digest := make([]byte, 0, maxV2Digest)
	digest = append(digest, varint.ToUvarint(p.Padding())...)
	digest = append(digest, byte(p.Height))
	digest = append(digest, p.Root[:]...)
	mh, err := multihash.Encode(digest, MhFr32Sha256Trunc254Padbintree)
	if err != nil {
		panic("piece: encoding a v2 multihash: " + err.Error()) // cannot happen: the code is fixed
	}
	return cid.NewCidV1(CodecRaw, mh)
}

// V1 returns the legacy piece CID and the padded size that must travel with it.
func (p Piece) V1() (cid.Cid, uint64) {
	return V1CID(p.Root), p.PaddedSize()
}

// String is the v2 CID.
func (p Piece) String() string { return p.CID().String() }

// V1CID returns the legacy (fil-commitment-unsealed, sha2-256-trunc254-padded)
// CID of a commitment.
func V1CID(root [NodeSize]byte) cid.Cid {
	mh, err := multihash.Encode(root[:], MhSha256Trunc254Padded)
	if err != nil {
		panic("piece: encoding a v1 multihash: " + err.Error()) // cannot happen: the code is fixed
	}
	return cid.NewCidV1(CodecFilCommitmentUnsealed, mh)
}

// RootFromV1 returns the commitment in a legacy piece CID.
func RootFromV1(c cid.Cid) ([NodeSize]byte, error) {
	var root [NodeSize]byte
	if !c.Defined() {
		return root, wrapf(ErrNotPieceCID, "undefined CID")
	}
	if c.Type() != CodecFilCommitmentUnsealed {
		return root, wrapf(ErrNotPieceCID, "%s has codec 0x%x, a v1 piece CID has 0x%x", c, c.Type(), CodecFilCommitmentUnsealed)
	}
	dec, err := multihash.Decode(c.Hash())
	if err != nil {
		return root, wrapf(ErrNotPieceCID, "%s: %v", c, err)
	}
	if dec.Code != MhSha256Trunc254Padded || len(dec.Digest) != NodeSize {
		return root, wrapf(ErrNotPieceCID, "%s: multihash 0x%x of %d bytes, want 0x%x of %d", c, dec.Code, len(dec.Digest), MhSha256Trunc254Padded, NodeSize)
	}
	if dec.Digest[NodeSize-1]&0xC0 != 0 {
		return root, wrapf(ErrNotPieceCID, "%s: the root's top two bits are set (not trunc254)", c)
	}
	copy(root[:], dec.Digest)
	return root, nil
}

// FromCID parses a v2 (FRC-0069) piece CID: codec raw, multihash 0x1011,
// digest uvarint(padding) ‖ height ‖ root. It rejects heights outside
// [MinHeight, MaxHeight], padding larger than the tree's capacity, a
// non-minimal varint, a root with its top two bits set and trailing bytes.
func FromCID(c cid.Cid) (Piece, error) {
	if !c.Defined() {
		return Piece{}, wrapf(ErrNotPieceCID, "undefined CID")
	}
	if c.Version() != 1 || c.Type() != CodecRaw {
		return Piece{}, wrapf(ErrNotPieceCID, "%s is CIDv%d with codec 0x%x, want CIDv1 raw (0x55)", c, c.Version(), c.Type())
	}
	dec, err := multihash.Decode(c.Hash())
	if err != nil {
		return Piece{}, wrapf(ErrNotPieceCID, "%s: %v", c, err)
	}
	if dec.Code != MhFr32Sha256Trunc254Padbintree {
		return Piece{}, wrapf(ErrNotPieceCID, "%s has multihash 0x%x, want 0x%x (fr32-sha256-trunc254-padbintree)", c, dec.Code, MhFr32Sha256Trunc254Padbintree)
	}
	d := dec.Digest
	padding, n, err := varint.FromUvarint(d)
	if err != nil {
		return Piece{}, wrapf(ErrNotPieceCID, "%s: padding varint: %v", c, err)
	}
	d = d[n:]
	if len(d) != 1+NodeSize {
		return Piece{}, wrapf(ErrNotPieceCID, "%s: digest has %d bytes after the padding, want 33 (height and root)", c, len(d))
	}
	h := int(d[0])
	if h < MinHeight || h > MaxHeight {
		return Piece{}, wrapf(ErrNotPieceCID, "%s: height %d outside [%d, %d]", c, h, MinHeight, MaxHeight)
	}
	if padding > capacity(h) {
		return Piece{}, wrapf(ErrNotPieceCID, "%s: padding %d exceeds the capacity %d of a height-%d tree", c, padding, capacity(h), h)
	}
	if d[NodeSize]&0xC0 != 0 {
		return Piece{}, wrapf(ErrNotPieceCID, "%s: the root's top two bits are set (not trunc254)", c)
	}
	p := Piece{Size: capacity(h) - padding, Height: h}
	copy(p.Root[:], d[1:])
	return p, nil
}

// Parse parses the string form of a v2 piece CID.
func Parse(s string) (Piece, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return Piece{}, wrapf(ErrNotPieceCID, "%q: %v", s, err)
	}
	return FromCID(c)
}

// describe names a piece in error messages.
func (p Piece) describe() string {
	return fmt.Sprintf("%s (%d bytes, padded %d)", p.CID(), p.Size, p.PaddedSize())
}
