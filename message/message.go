package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"
)

// Tag is the single key of a message root block.
const Tag = "w3dag/message@1"

// Media types of the bodies POST /ucan accepts and replies with.
const (
	ContentTypeCAR     = "application/vnd.ipld.car"
	ContentTypeDAGCBOR = "application/vnd.ipld.dag-cbor"
	ContentTypeDAGJSON = "application/vnd.ipld.dag-json"
)

// Multicodec codes used for message and block CIDs.
const (
	CodecCAR     = 0x0202
	CodecDAGCBOR = 0x71
	CodecRaw     = 0x55
)

// Default limits (DESIGN §9). Every Limits field left zero takes its default from here.
const (
	// MaxMessageSize is the largest agent message accepted, in bytes (4 MiB).
	MaxMessageSize = 4 << 20
	// MaxInvocations is the largest number of invocations (or receipts) in one message.
	MaxInvocations = 1000
	// MaxBlockSize is the largest non-root block (a token) accepted, in bytes (64 KiB).
	MaxBlockSize = 64 << 10
	// MaxRootSize is the largest root block accepted, in bytes: enough for MaxInvocations
	// invocation links or receipt entries.
	MaxRootSize = 256 << 10
)

// Limits for decoding replies: a reply carries, besides receipts, the blocks a get or select
// returns (a select page of up to 1000 entry states), so its blocks may be larger than
// tokens.
const (
	// MaxReplySize is the largest reply message a client should accept (64 MiB).
	MaxReplySize = 64 << 20
	// MaxReplyBlockSize is the largest block of a reply (16 MiB).
	MaxReplyBlockSize = 16 << 20
)

// ReplyLimits are the Limits clients decode replies with.
var ReplyLimits = Limits{MaxSize: MaxReplySize, MaxBlockSize: MaxReplyBlockSize}

// Limits bound what Decode accepts. The zero value applies the defaults above.
type Limits struct {
	// MaxSize is the largest message in bytes; 0 means MaxMessageSize.
	MaxSize int
	// MaxInvocations bounds the invocations and the receipts of a message; 0 means
	// MaxInvocations.
	MaxInvocations int
	// MaxBlockSize bounds every block but the root; 0 means MaxBlockSize.
	MaxBlockSize int
	// MaxRootSize bounds the root block; 0 means MaxRootSize.
	MaxRootSize int
}

func (l Limits) withDefaults() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = MaxMessageSize
	}
	if l.MaxInvocations <= 0 {
		l.MaxInvocations = MaxInvocations
	}
	if l.MaxBlockSize <= 0 {
		l.MaxBlockSize = MaxBlockSize
	}
	if l.MaxRootSize <= 0 {
		l.MaxRootSize = MaxRootSize
	}
	return l
}

// Block is one content-addressed block: its CID and its bytes.
type Block struct {
	CID  cid.Cid
	Data []byte
}

// NewBlock returns the CIDv1 sha2-256 block of data with the given codec.
func NewBlock(codec uint64, data []byte) Block {
	return Block{CID: Sum(codec, data), Data: data}
}

// Sum returns the CIDv1 with the given codec of the sha2-256 of data.
func Sum(codec uint64, data []byte) cid.Cid {
	mh, err := multihash.Sum(data, multihash.SHA2_256, -1)
	if err != nil {
		// sha2-256 is always registered; Sum cannot fail for it.
		panic(fmt.Sprintf("message: sha2-256 unavailable: %v", err))
	}
	return cid.NewCidV1(codec, mh)
}

// CID returns the CID of an encoded CAR message: CIDv1, codec car (0x0202), sha2-256 of
// the bytes exactly as sent or received. The archive keys messages by it.
func CID(data []byte) cid.Cid { return Sum(CodecCAR, data) }

// Receipt pairs an invocation with the receipt issued for it.
type Receipt struct {
	Invocation cid.Cid
	Receipt    cid.Cid
}

// Message is a decoded agent message.
type Message struct {
	// Invocations lists the invocations to run, in message order.
	Invocations []cid.Cid
	// Receipts lists the receipts the message carries, in root order.
	Receipts []Receipt
	// Blocks holds every block but the root, in CAR order, without duplicates.
	Blocks []Block
}

// Index returns the blocks of m by CID.
func (m *Message) Index() map[cid.Cid][]byte {
	idx := make(map[cid.Cid][]byte, len(m.Blocks))
	for _, b := range m.Blocks {
		idx[b.CID] = b.Data
	}
	return idx
}

// Encode returns m as a CAR v1 message: the root block first, then m.Blocks in order.
// Every invocation and receipt m links must be among m.Blocks.
func Encode(m *Message) ([]byte, error) {
	root, err := Root(m)
	if err != nil {
		return nil, err
	}
	have := make(map[cid.Cid]bool, len(m.Blocks))
	for _, b := range m.Blocks {
		have[b.CID] = true
	}
	for _, c := range m.Invocations {
		if !have[c] {
			return nil, fmt.Errorf("encoding message: invocation %s has no block", c)
		}
	}
	for _, r := range m.Receipts {
		if !have[r.Receipt] {
			return nil, fmt.Errorf("encoding message: receipt %s has no block", r.Receipt)
		}
	}
	blocks := make([]Block, 0, len(m.Blocks)+1)
	blocks = append(blocks, root)
	blocks = append(blocks, m.Blocks...)
	return EncodeCAR([]cid.Cid{root.CID}, blocks)
}

// Root returns the DAG-CBOR root block of m (for rendering m as DAG-JSON with EncodeJSON).
func Root(m *Message) (Block, error) {
	if data, ok := appendRoot(nil, m); ok {
		return NewBlock(CodecDAGCBOR, data), nil
	}
	return rootRef(m)
}

// rootRef builds the root block with go-ipld-prime: the reference appendRoot is held to,
// and the path of messages it does not write.
func rootRef(m *Message) (Block, error) {
	nb := basicnode.Prototype.Map.NewBuilder()
	ma, err := nb.BeginMap(1)
	if err != nil {
		return Block{}, err
	}
	body := 0
	if len(m.Invocations) > 0 || len(m.Receipts) == 0 {
		body++
	}
	if len(m.Receipts) > 0 {
		body++
	}
	inner, err := ma.AssembleEntry(Tag)
	if err != nil {
		return Block{}, err
	}
	ima, err := inner.BeginMap(int64(body))
	if err != nil {
		return Block{}, err
	}
	if len(m.Invocations) > 0 || len(m.Receipts) == 0 {
		va, err := ima.AssembleEntry("invocations")
		if err != nil {
			return Block{}, err
		}
		la, err := va.BeginList(int64(len(m.Invocations)))
		if err != nil {
			return Block{}, err
		}
		for _, c := range m.Invocations {
			if err := la.AssembleValue().AssignLink(cidlink.Link{Cid: c}); err != nil {
				return Block{}, err
			}
		}
		if err := la.Finish(); err != nil {
			return Block{}, err
		}
	}
	if len(m.Receipts) > 0 {
		va, err := ima.AssembleEntry("receipts")
		if err != nil {
			return Block{}, err
		}
		rma, err := va.BeginMap(int64(len(m.Receipts)))
		if err != nil {
			return Block{}, err
		}
		for _, r := range m.Receipts {
			ea, err := rma.AssembleEntry(r.Invocation.String())
			if err != nil {
				return Block{}, fmt.Errorf("encoding message: receipt for %s: %w", r.Invocation, err)
			}
			if err := ea.AssignLink(cidlink.Link{Cid: r.Receipt}); err != nil {
				return Block{}, err
			}
		}
		if err := rma.Finish(); err != nil {
			return Block{}, err
		}
	}
	if err := ima.Finish(); err != nil {
		return Block{}, err
	}
	if err := ma.Finish(); err != nil {
		return Block{}, err
	}
	var buf bytes.Buffer
	if err := dagcbor.Encode(nb.Build(), &buf); err != nil {
		return Block{}, fmt.Errorf("encoding message root: %w", err)
	}
	return NewBlock(CodecDAGCBOR, buf.Bytes()), nil
}

// Decode parses a CAR v1 agent message within lim. Errors wrap ErrMalformed or ErrTooLarge
// and say what was wrong. Every invocation and receipt the root links must be a block of the
// message; other blocks are kept as they are (proofs).
func Decode(data []byte, lim Limits) (*Message, error) {
	lim = lim.withDefaults()
	if len(data) > lim.MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), lim.MaxSize)
	}
	roots, blocks, err := decodeCAR(data, max(lim.MaxBlockSize, lim.MaxRootSize))
	if err != nil {
		return nil, err
	}
	if len(roots) != 1 {
		return nil, fmt.Errorf("%w: want exactly 1 root, have %d", ErrMalformed, len(roots))
	}
	rootCID := roots[0]
	m := &Message{Blocks: make([]Block, 0, len(blocks))}
	var rootData []byte
	seen := make(map[cid.Cid]bool, len(blocks))
	for _, b := range blocks {
		if b.CID.Equals(rootCID) {
			rootData = b.Data
			continue
		}
		if seen[b.CID] {
			continue
		}
		seen[b.CID] = true
		if len(b.Data) > lim.MaxBlockSize {
			return nil, fmt.Errorf("%w: block %s is %d bytes, limit %d", ErrTooLarge, b.CID, len(b.Data), lim.MaxBlockSize)
		}
		m.Blocks = append(m.Blocks, b)
	}
	if rootData == nil {
		return nil, fmt.Errorf("%w: root block %s is not in the CAR", ErrMalformed, rootCID)
	}
	if len(rootData) > lim.MaxRootSize {
		return nil, fmt.Errorf("%w: root block is %d bytes, limit %d", ErrTooLarge, len(rootData), lim.MaxRootSize)
	}
	if rootCID.Type() != CodecDAGCBOR {
		return nil, fmt.Errorf("%w: root block %s is not DAG-CBOR", ErrMalformed, rootCID)
	}
	if err := decodeRoot(rootData, m, lim); err != nil {
		return nil, err
	}
	for _, c := range m.Invocations {
		if !seen[c] {
			return nil, fmt.Errorf("%w: invocation %s is not in the CAR", ErrMalformed, c)
		}
	}
	for _, r := range m.Receipts {
		if !seen[r.Receipt] {
			return nil, fmt.Errorf("%w: receipt %s is not in the CAR", ErrMalformed, r.Receipt)
		}
	}
	return m, nil
}

// decodeRoot fills m.Invocations and m.Receipts from the root block.
func decodeRoot(data []byte, m *Message, lim Limits) error {
	if decodeRootFast(data, m, lim) {
		return nil
	}
	return decodeRootRef(data, m, lim)
}

// decodeRootRef is decodeRoot with go-ipld-prime: the reference decodeRootFast is held
// to, and the path of every root it does not take.
func decodeRootRef(data []byte, m *Message, lim Limits) error {
	nb := basicnode.Prototype.Any.NewBuilder()
	opts := dagcbor.DecodeOptions{AllowLinks: true, MaxDepth: 8}
	if err := opts.Decode(nb, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("%w: root block is not DAG-CBOR: %v", ErrMalformed, err)
	}
	root := nb.Build()
	if root.Kind() != datamodel.Kind_Map || root.Length() != 1 {
		return fmt.Errorf("%w: root must be a map with the single key %q", ErrMalformed, Tag)
	}
	body, err := root.LookupByString(Tag)
	if err != nil {
		return fmt.Errorf("%w: root must be a map with the single key %q", ErrMalformed, Tag)
	}
	if body.Kind() != datamodel.Kind_Map {
		return fmt.Errorf("%w: %s must be a map", ErrMalformed, Tag)
	}
	it := body.MapIterator()
	for !it.Done() {
		k, v, err := it.Next()
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrMalformed, Tag, err)
		}
		key, _ := k.AsString()
		switch key {
		case "invocations":
			if m.Invocations, err = decodeLinks(v, lim.MaxInvocations); err != nil {
				return err
			}
		case "receipts":
			if m.Receipts, err = decodeReceipts(v, lim.MaxInvocations); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: %s has unknown field %q", ErrMalformed, Tag, key)
		}
	}
	if len(m.Invocations) == 0 && len(m.Receipts) == 0 {
		return fmt.Errorf("%w: message carries no invocations and no receipts", ErrMalformed)
	}
	return nil
}

func decodeLinks(n datamodel.Node, limit int) ([]cid.Cid, error) {
	if n.Kind() != datamodel.Kind_List {
		return nil, fmt.Errorf("%w: invocations must be a list of links", ErrMalformed)
	}
	if n.Length() > int64(limit) {
		return nil, fmt.Errorf("%w: %d invocations, limit %d", ErrTooLarge, n.Length(), limit)
	}
	out := make([]cid.Cid, 0, n.Length())
	seen := make(map[cid.Cid]bool, n.Length())
	it := n.ListIterator()
	for !it.Done() {
		i, v, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("%w: invocations: %v", ErrMalformed, err)
		}
		c, err := asCID(v)
		if err != nil {
			return nil, fmt.Errorf("%w: invocations[%d]: %v", ErrMalformed, i, err)
		}
		if seen[c] {
			continue
		}
		seen[c] = true
		out = append(out, c)
	}
	return out, nil
}

func decodeReceipts(n datamodel.Node, limit int) ([]Receipt, error) {
	if n.Kind() != datamodel.Kind_Map {
		return nil, fmt.Errorf("%w: receipts must be a map from invocation CID to link", ErrMalformed)
	}
	if n.Length() > int64(limit) {
		return nil, fmt.Errorf("%w: %d receipts, limit %d", ErrTooLarge, n.Length(), limit)
	}
	out := make([]Receipt, 0, n.Length())
	it := n.MapIterator()
	for !it.Done() {
		k, v, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("%w: receipts: %v", ErrMalformed, err)
		}
		ks, _ := k.AsString()
		inv, err := cid.Decode(ks)
		if err != nil {
			return nil, fmt.Errorf("%w: receipts key %q is not a CID: %v", ErrMalformed, ks, err)
		}
		rc, err := asCID(v)
		if err != nil {
			return nil, fmt.Errorf("%w: receipts[%s]: %v", ErrMalformed, ks, err)
		}
		out = append(out, Receipt{Invocation: inv, Receipt: rc})
	}
	return out, nil
}

func asCID(n datamodel.Node) (cid.Cid, error) {
	l, err := n.AsLink()
	if err != nil {
		return cid.Undef, errors.New("not a link")
	}
	cl, ok := l.(cidlink.Link)
	if !ok || !cl.Cid.Defined() {
		return cid.Undef, errors.New("not a CID link")
	}
	return cl.Cid, nil
}

// EncodeCAR writes a CAR v1 with the given roots and blocks, in order.
func EncodeCAR(roots []cid.Cid, blocks []Block) ([]byte, error) {
	size := 0
	for _, c := range roots {
		if !c.Defined() {
			return encodeCARRef(roots, blocks)
		}
	}
	for _, b := range blocks {
		size += binary.MaxVarintLen64 + b.CID.ByteLen() + len(b.Data)
	}
	out := AppendCARHeader(make([]byte, 0, size+64+len(roots)*48), roots)
	return appendSections(out, blocks), nil
}

// appendSections appends the CAR sections of blocks: length, CID bytes, data.
func appendSections(out []byte, blocks []Block) []byte {
	for _, b := range blocks {
		out = AppendSectionHead(out, b.CID, len(b.Data))
		out = append(out, b.Data...)
	}
	return out
}

// AppendSectionHead appends to b the start of the CAR v1 section of a block of n bytes
// whose CID is c: the section's length (the CID's bytes and the block's, an unsigned
// varint), then the CID's bytes. The block's n bytes are to follow. It is the one writer
// of CAR section framing: EncodeCAR, the gateway's streamed CARs and the client's shards
// all use it.
func AppendSectionHead(b []byte, c cid.Cid, n int) []byte {
	b = binary.AppendUvarint(b, uint64(c.ByteLen()+n))
	return append(b, c.KeyString()...) // the CID's bytes, without Bytes' copy
}

// encodeCARRef is EncodeCAR with the header written by go-ipld-prime: the reference
// AppendCARHeader is held to, and the path of roots it does not write.
func encodeCARRef(roots []cid.Cid, blocks []Block) ([]byte, error) {
	hnb := basicnode.Prototype.Map.NewBuilder()
	ma, err := hnb.BeginMap(2)
	if err != nil {
		return nil, err
	}
	ra, err := ma.AssembleEntry("roots")
	if err != nil {
		return nil, err
	}
	la, err := ra.BeginList(int64(len(roots)))
	if err != nil {
		return nil, err
	}
	for _, c := range roots {
		if err := la.AssembleValue().AssignLink(cidlink.Link{Cid: c}); err != nil {
			return nil, err
		}
	}
	if err := la.Finish(); err != nil {
		return nil, err
	}
	va, err := ma.AssembleEntry("version")
	if err != nil {
		return nil, err
	}
	if err := va.AssignInt(1); err != nil {
		return nil, err
	}
	if err := ma.Finish(); err != nil {
		return nil, err
	}
	var header bytes.Buffer
	if err := dagcbor.Encode(hnb.Build(), &header); err != nil {
		return nil, fmt.Errorf("encoding CAR header: %w", err)
	}
	// Room for every section's length varint at its longest.
	size := binary.MaxVarintLen64 + header.Len()
	for _, b := range blocks {
		size += binary.MaxVarintLen64 + b.CID.ByteLen() + len(b.Data)
	}
	out := make([]byte, 0, size)
	out = binary.AppendUvarint(out, uint64(header.Len()))
	out = append(out, header.Bytes()...)
	return appendSections(out, blocks), nil
}

// DecodeCAR reads a CAR v1 held in memory, checking that every block hashes to its CID and
// that no block is larger than maxBlock bytes (0 means MaxRootSize). Duplicate blocks are
// returned once.
func DecodeCAR(data []byte, maxBlock int) ([]cid.Cid, []Block, error) {
	if maxBlock <= 0 {
		maxBlock = MaxRootSize
	}
	return decodeCAR(data, maxBlock)
}

func decodeCAR(data []byte, maxBlock int) (roots []cid.Cid, blocks []Block, err error) {
	if roots, blocks, ok := decodeCARFast(data, maxBlock); ok {
		return roots, blocks, nil
	}
	return decodeCARRef(data, maxBlock)
}

// decodeCARRef is decodeCAR with go-car: the reference decodeCARFast is held to, and the
// path (with its errors) of every CAR it does not take.
func decodeCARRef(data []byte, maxBlock int) (roots []cid.Cid, blocks []Block, err error) {
	// go-car reads its framing defensively, but a decoder of untrusted bytes must never
	// take the process down: turn any panic in it into a malformed-CAR error.
	defer func() {
		if r := recover(); r != nil {
			roots, blocks, err = nil, nil, fmt.Errorf("%w: CAR: %v", ErrMalformed, r)
		}
	}()
	// The section limit includes the CID bytes in front of the block.
	sectionLimit := uint64(maxBlock) + sectionCIDRoom
	br, err := car.NewBlockReader(bytes.NewReader(data),
		car.MaxAllowedHeaderSize(maxCARHeaderSize),
		car.MaxAllowedSectionSize(sectionLimit))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: CAR header: %v", ErrMalformed, err)
	}
	if br.Version != 1 {
		return nil, nil, fmt.Errorf("%w: CAR version %d, want 1", ErrMalformed, br.Version)
	}
	roots = br.Roots
	seen := make(map[cid.Cid]bool)
	for {
		b, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, nil, fmt.Errorf("%w: CAR is truncated", ErrMalformed)
			}
			return nil, nil, fmt.Errorf("%w: CAR block %d: %v", ErrMalformed, len(blocks), err)
		}
		c := b.Cid()
		if len(b.RawData()) > maxBlock {
			return nil, nil, fmt.Errorf("%w: block %s is %d bytes, limit %d", ErrTooLarge, c, len(b.RawData()), maxBlock)
		}
		if seen[c] {
			continue
		}
		seen[c] = true
		blocks = append(blocks, Block{CID: c, Data: b.RawData()})
	}
	return roots, blocks, nil
}

// SortReceipts orders rs by the DAG-CBOR canonical order of their invocation keys (shorter
// first, then bytewise), the order in which they appear in an encoded root.
func SortReceipts(rs []Receipt) {
	sort.Slice(rs, func(i, j int) bool {
		a, b := rs[i].Invocation.String(), rs[j].Invocation.String()
		if len(a) != len(b) {
			return len(a) < len(b)
		}
		return a < b
	})
}
