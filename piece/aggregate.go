package piece

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
)

const (
	// EntrySize is the size of one data segment index entry (two nodes):
	// CommDs[32] ‖ Offset u64 LE ‖ Size u64 LE ‖ Checksum[16].
	EntrySize = 64
	// ChecksumSize is the size of an entry's truncated SHA-256 checksum.
	ChecksumSize = 16
	// MinIndexEntries is the fewest entries an index has (FRC-0058).
	MinIndexEntries = 4
	// entriesDivisor: a deal of padded size D has an index of
	// max(MinIndexEntries, 2^⌈log2(D/entriesDivisor)⌉) entries (D/2048/64).
	entriesDivisor = 2048 * EntrySize
	// MinDealSize is the smallest deal (padded bytes): room for the minimum
	// index (4 entries, 256 bytes) and one minimum piece (128 bytes), rounded
	// up to a power of two.
	MinDealSize = 512
	// MaxDealSize is the largest deal (padded bytes), a tree of MaxHeight.
	MaxDealSize = MaxPaddedSize
	// entryAlign is the alignment FRC-0058 requires of an entry's offset and
	// size for the entry to be valid.
	entryAlign = 128
)

// IndexEntries is the number of entries in the index of a deal of the given
// padded size.
func IndexEntries(dealSize uint64) uint64 {
	q := dealSize / entriesDivisor
	if q <= MinIndexEntries {
		return MinIndexEntries
	}
	n := uint64(1)
	for n < q {
		n <<= 1
	}
	return n
}

// IndexStart is the padded offset of the index in a deal: its end minus
// IndexEntries×EntrySize.
func IndexStart(dealSize uint64) uint64 { return dealSize - IndexEntries(dealSize)*EntrySize }

// CheckDealSize checks that dealSize is a padded deal size this package
// handles: a power of two in [MinDealSize, MaxDealSize].
func CheckDealSize(dealSize uint64) error {
	if !isPow2(dealSize) || dealSize < MinDealSize || dealSize > MaxDealSize {
		return wrapf(ErrBadDealSize, "%d is not a power of two in [%d, %d] (padded bytes)", dealSize, MinDealSize, uint64(MaxDealSize))
	}
	return nil
}

// IndexEntry is one data segment index entry. Offset and Size are padded
// bytes within the deal.
type IndexEntry struct {
	CommDs   [NodeSize]byte
	Offset   uint64
	Size     uint64
	Checksum [ChecksumSize]byte
}

// NewIndexEntry returns the entry for a segment with its checksum set.
func NewIndexEntry(root [NodeSize]byte, offset, size uint64) IndexEntry {
	e := IndexEntry{CommDs: root, Offset: offset, Size: size}
	e.Checksum = e.checksum()
	return e
}

// Bytes is the 64-byte serialisation, two Fr32-safe nodes.
func (e IndexEntry) Bytes() [EntrySize]byte {
	var b [EntrySize]byte
	copy(b[:32], e.CommDs[:])
	binary.LittleEndian.PutUint64(b[32:], e.Offset)
	binary.LittleEndian.PutUint64(b[40:], e.Size)
	copy(b[48:], e.Checksum[:])
	return b
}

// checksum is SHA-256 of the entry with a zero checksum, its first 16 bytes,
// with the top two bits of the last one cleared.
func (e IndexEntry) checksum() [ChecksumSize]byte {
	e.Checksum = [ChecksumSize]byte{}
	b := e.Bytes()
	h := sha256.Sum256(b[:])
	var c [ChecksumSize]byte
	copy(c[:], h[:ChecksumSize])
	c[ChecksumSize-1] &= 0x3F
	return c
}

// node is the entry's level-1 tree node, H(CommDs, Offset‖Size‖Checksum).
func (e IndexEntry) node() [NodeSize]byte {
	b := e.Bytes()
	return hashPair((*[NodeSize]byte)(b[:32]), (*[NodeSize]byte)(b[32:]))
}

// Validate applies FRC-0058's validity rules: the checksum matches, Offset
// and Size are multiples of 128, and the CommDs is trunc254.
func (e IndexEntry) Validate() error {
	if e.checksum() != e.Checksum {
		return fmt.Errorf("piece: index entry (offset %d, size %d): checksum mismatch", e.Offset, e.Size)
	}
	if e.Offset%entryAlign != 0 || e.Size%entryAlign != 0 {
		return fmt.Errorf("piece: index entry (offset %d, size %d): offset and size must be multiples of %d", e.Offset, e.Size, entryAlign)
	}
	if e.CommDs[NodeSize-1]&0xC0 != 0 {
		return fmt.Errorf("piece: index entry (offset %d, size %d): CommDs has its top two bits set", e.Offset, e.Size)
	}
	return nil
}

// DecodeIndexEntry decodes 64 bytes (without validating them).
func DecodeIndexEntry(b []byte) (IndexEntry, error) {
	var e IndexEntry
	if len(b) != EntrySize {
		return e, fmt.Errorf("piece: an index entry has %d bytes, got %d", EntrySize, len(b))
	}
	copy(e.CommDs[:], b[:32])
	e.Offset = binary.LittleEndian.Uint64(b[32:])
	e.Size = binary.LittleEndian.Uint64(b[40:])
	copy(e.Checksum[:], b[48:])
	return e, nil
}

// ValidEntries reads an index region in its padded (tree) form, a multiple
// of EntrySize bytes, and returns its valid entries in order, as a reader of a
// deal does: invalid entries (all-zero unused ones included) are skipped.
func ValidEntries(region []byte) ([]IndexEntry, error) {
	if len(region)%EntrySize != 0 {
		return nil, fmt.Errorf("piece: index region of %d bytes is not a multiple of %d", len(region), EntrySize)
	}
	var out []IndexEntry
	for i := 0; i < len(region); i += EntrySize {
		e, _ := DecodeIndexEntry(region[i : i+EntrySize])
		if e.Validate() == nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// Segment is a piece placed in a deal.
type Segment struct {
	Piece Piece
	// Offset is the padded offset of the piece in the deal, a multiple of its
	// padded size.
	Offset uint64
}

// Aggregate is a deal holding pieces and their FRC-0058 index.
type Aggregate struct {
	// DealSize is the padded size of the deal.
	DealSize uint64
	// Segments are the pieces in the order given, with their offsets.
	Segments []Segment
	// Root is the deal's commitment.
	Root [NodeSize]byte

	height int
	items  []item
	memo   map[nodeKey][NodeSize]byte
}

// item is a known subtree of the sparse deal tree: a piece or an index entry.
type item struct {
	level int
	start uint64 // first leaf
	hash  [NodeSize]byte
}

func (it item) end() uint64 { return it.start + 1<<it.level }

type nodeKey struct {
	level int
	index uint64
}

// Placement returns the padded offsets of pieces placed in the order given,
// each at the next multiple of its own padded size, and the end of the last.
func Placement(pieces []Piece) (offsets []uint64, end uint64) {
	offsets = make([]uint64, len(pieces))
	for i, p := range pieces {
		size := p.PaddedSize()
		off := (end + size - 1) / size * size
		offsets[i] = off
		end = off + size
	}
	return offsets, end
}

// NewAggregate places pieces in a deal of dealSize padded bytes in the order
// given, builds its index and computes its commitment from the pieces' roots
// and sizes. It fails with ErrDoesNotFit, naming the first piece that does
// not fit, when the pieces run into the index or there are more pieces than
// index entries.
func NewAggregate(dealSize uint64, pieces []Piece) (*Aggregate, error) {
	if err := CheckDealSize(dealSize); err != nil {
		return nil, err
	}
	if len(pieces) == 0 {
		return nil, &FitError{Piece: -1, Reason: "no pieces to aggregate"}
	}
	entries := IndexEntries(dealSize)
	if uint64(len(pieces)) > entries {
		return nil, &FitError{Piece: -1, Reason: fmt.Sprintf("%d pieces, but the index of a %d-byte deal has %d entries", len(pieces), dealSize, entries)}
	}
	for i, p := range pieces {
		if err := p.Validate(); err != nil {
			return nil, &FitError{Piece: i, Reason: err.Error()}
		}
	}
	indexStart := IndexStart(dealSize)
	offsets, _ := Placement(pieces)
	a := &Aggregate{DealSize: dealSize, height: log2(dealSize / NodeSize), memo: map[nodeKey][NodeSize]byte{}}
	for i, p := range pieces {
		if end := offsets[i] + p.PaddedSize(); end > indexStart || end < offsets[i] {
			return nil, &FitError{Piece: i, Reason: fmt.Sprintf("%s would occupy [%d, %d), past the index at %d of a %d-byte deal (%d bytes for pieces)",
				p.describe(), offsets[i], offsets[i]+p.PaddedSize(), indexStart, dealSize, indexStart)}
		}
		a.Segments = append(a.Segments, Segment{Piece: p, Offset: offsets[i]})
		a.items = append(a.items, item{level: p.Height, start: offsets[i] / NodeSize, hash: p.Root})
	}
	for i, s := range a.Segments {
		e := NewIndexEntry(s.Piece.Root, s.Offset, s.Piece.PaddedSize())
		a.items = append(a.items, item{level: 1, start: (indexStart + uint64(i)*EntrySize) / NodeSize, hash: e.node()})
	}
	a.Root = a.node(a.height, 0)
	return a, nil
}

// Piece is the deal as a piece: the whole deal is the payload (padding 0).
func (a *Aggregate) Piece() Piece {
	return Piece{Size: capacity(a.height), Height: a.height, Root: a.Root}
}

// Index returns the index entries, one per segment, in order.
func (a *Aggregate) Index() []IndexEntry {
	out := make([]IndexEntry, len(a.Segments))
	for i, s := range a.Segments {
		out[i] = NewIndexEntry(s.Piece.Root, s.Offset, s.Piece.PaddedSize())
	}
	return out
}

// IndexRegion returns the index in its padded (tree) form: IndexEntries
// entries of EntrySize bytes, unused ones zero. It starts at IndexStart.
func (a *Aggregate) IndexRegion() []byte {
	region := make([]byte, IndexEntries(a.DealSize)*EntrySize)
	for i, e := range a.Index() {
		b := e.Bytes()
		copy(region[i*EntrySize:], b[:])
	}
	return region
}

// IndexRegionRaw returns the index as the payload bytes a storage provider
// sees at the end of the deal (the Fr32 unpadding of IndexRegion), and their
// offset in the deal's payload.
func (a *Aggregate) IndexRegionRaw() (raw []byte, offset uint64) {
	region := a.IndexRegion()
	raw = make([]byte, len(region)/expandedChunkSize*chunkSize)
	fr32Unpad(raw, region)
	return raw, IndexPayloadOffset(a.DealSize)
}

// IndexPayloadOffset is where the raw index region starts in the deal's
// payload (unpadded bytes): IndexStart/128·127.
func IndexPayloadOffset(dealSize uint64) uint64 {
	return IndexStart(dealSize) / expandedChunkSize * chunkSize
}

// node returns the tree node at (level, index) of the sparse deal tree:
// zero subtrees where nothing is placed, a placed piece or entry where one
// is, and the hash of its children otherwise (memoised).
func (a *Aggregate) node(level int, index uint64) [NodeSize]byte {
	lo := index << level
	hi := lo + 1<<level
	k := sort.Search(len(a.items), func(i int) bool { return a.items[i].end() > lo })
	if k == len(a.items) || a.items[k].start >= hi {
		return zeroComm[level]
	}
	if it := a.items[k]; it.level == level && it.start == lo {
		return it.hash
	}
	key := nodeKey{level, index}
	if h, ok := a.memo[key]; ok {
		return h
	}
	l, r := a.node(level-1, 2*index), a.node(level-1, 2*index+1)
	h := hashPair(&l, &r)
	a.memo[key] = h
	return h
}

// path returns the siblings from (level, index) up to the root.
func (a *Aggregate) path(level int, index uint64) []Node {
	var p []Node
	for l := level; l < a.height; l++ {
		p = append(p, Node(a.node(l, index^1)))
		index >>= 1
	}
	return p
}

// Inclusion returns the inclusion proof of segment i.
func (a *Aggregate) Inclusion(i int) (InclusionProof, error) {
	if i < 0 || i >= len(a.Segments) {
		return InclusionProof{}, fmt.Errorf("piece: no segment %d in an aggregate of %d", i, len(a.Segments))
	}
	s := a.Segments[i]
	sub := s.Offset >> (s.Piece.Height + 5)
	entry := (IndexStart(a.DealSize) + uint64(i)*EntrySize) / EntrySize
	return InclusionProof{
		Subtree: ProofData{Index: sub, Path: a.path(s.Piece.Height, sub)},
		Index:   ProofData{Index: entry, Path: a.path(1, entry)},
	}, nil
}
