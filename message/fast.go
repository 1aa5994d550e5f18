package message

// fast.go: the CAR and root codec of the common case, written by hand over the canonical
// bytes. Decoding tries it first and falls back to go-car and go-ipld-prime (the reference
// path, decodeCARRef and decodeRootRef) on anything it does not recognise, so that every
// error, and every message a fast path does not take, is exactly the reference path's.
// A fast path accepts a subset of what the reference path accepts and returns the same
// result for it (FuzzDecodeCARFast and FuzzDecodeRootFast hold them to that). Encoding writes the
// bytes go-ipld-prime's dagcbor.Encode writes for the same header and root.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/cbor"
)

// The keys of a CAR v1 header and of a message root, as they are written.
const (
	keyRoots       = "roots"
	keyVersion     = "version"
	keyInvocations = "invocations"
	keyReceipts    = "receipts"
)

// maxCARHeaderSize is the largest CAR header decodeCAR reads (go-car's
// MaxAllowedHeaderSize there).
const maxCARHeaderSize = 64 << 10

// sectionCIDRoom is the room a CAR section leaves for the CID in front of its block: a
// section longer than the block limit plus this is refused (go-car's
// MaxAllowedSectionSize in decodeCARRef), before its block is read.
const sectionCIDRoom = 128

// AppendCARHeader appends the length-prefixed CAR v1 header {"roots": roots, "version":
// 1}: the bytes go-ipld-prime's dagcbor.Encode writes for it (keys in canonical order,
// shortest heads, tag 42 links). Every root must be defined. It is the one writer of CAR
// headers: EncodeCAR and client/unixfs's shards use it.
func AppendCARHeader(b []byte, roots []cid.Cid) []byte {
	size := 1 + 1 + len(keyRoots) + 9 + 1 + len(keyVersion) + 1
	for _, c := range roots {
		size += 2 + 9 + 1 + c.ByteLen()
	}
	h := make([]byte, 0, size)
	h = cbor.AppendHead(h, cbor.MajorMap, 2)
	h = cbor.AppendText(h, keyRoots)
	h = cbor.AppendHead(h, cbor.MajorArray, uint64(len(roots)))
	for _, c := range roots {
		h = cbor.AppendLink(h, c)
	}
	h = cbor.AppendText(h, keyVersion)
	h = cbor.AppendHead(h, cbor.MajorUint, 1)
	b = binary.AppendUvarint(b, uint64(len(h)))
	return append(b, h...)
}

// uvarint reads a minimal unsigned varint at the start of b; n is 0 when there is none
// (empty, cut short, overlong or not minimal).
func uvarint(b []byte) (v uint64, n int) {
	v, n = binary.Uvarint(b)
	if n <= 0 || n != uvarintLen(v) {
		return 0, 0
	}
	return v, n
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// readLink reads a DAG-CBOR link (tag 42 over 0x00 and the CID's bytes) at the start of b
// in its canonical form; ok is false for anything else.
func readLink(b []byte) (c cid.Cid, n int, ok bool) {
	major, tag, hn, err := cbor.ReadHead(b)
	if err != nil || major != cbor.MajorTag || tag != cbor.TagCID {
		return cid.Undef, 0, false
	}
	major, size, bn, err := cbor.ReadHead(b[hn:])
	if err != nil || major != cbor.MajorBytes || size < 1 || size > uint64(len(b)-hn-bn) {
		return cid.Undef, 0, false
	}
	raw := b[hn+bn : hn+bn+int(size)]
	if raw[0] != 0 {
		return cid.Undef, 0, false
	}
	c, err = cid.Cast(raw[1:])
	if err != nil || c.ByteLen() != len(raw)-1 {
		return cid.Undef, 0, false
	}
	return c, hn + bn + int(size), true
}

// readText reads a text string at the start of b; ok is false for anything else.
func readText(b []byte) (s string, n int, ok bool) {
	major, size, hn, err := cbor.ReadHead(b)
	if err != nil || major != cbor.MajorText || size > uint64(len(b)-hn) {
		return "", 0, false
	}
	return string(b[hn : hn+int(size)]), hn + int(size), true
}

// readKey reads the text string want at the start of b.
func readKey(b []byte, want string) (n int, ok bool) {
	major, size, hn, err := cbor.ReadHead(b)
	if err != nil || major != cbor.MajorText || size != uint64(len(want)) || len(b)-hn < len(want) ||
		string(b[hn:hn+len(want)]) != want {
		return 0, false
	}
	return hn + len(want), true
}

// readHeadOf reads a head of the given major type at the start of b.
func readHeadOf(b []byte, major byte) (arg uint64, n int, ok bool) {
	m, arg, n, err := cbor.ReadHead(b)
	if err != nil || m != major {
		return 0, 0, false
	}
	return arg, n, true
}

// decodeCARFast reads a CAR v1 whose header is in its canonical form and whose sections
// are all well formed, within limits, and hold blocks that hash to their CIDs. ok is false
// for any other input, which decodeCARRef then reads (and refuses or accepts) the
// reference way.
func decodeCARFast(data []byte, maxBlock int) (roots []cid.Cid, blocks []Block, ok bool) {
	hl, n := uvarint(data)
	if n == 0 || hl > maxCARHeaderSize || hl > uint64(len(data)-n) {
		return nil, nil, false
	}
	header := data[n : n+int(hl)]
	pos := n + int(hl)
	// The header must be the canonical writing of what is read from it, which
	// readCARHeader checks as it reads: the length above and every head in their
	// shortest form, the keys and the version exactly, each link's CID bytes those of
	// the CID read, nothing after.
	if roots, ok = readCARHeader(header); !ok {
		return nil, nil, false
	}
	sectionLimit := uint64(maxBlock) + sectionCIDRoom
	var seen map[cid.Cid]struct{}
	for pos < len(data) {
		l, n := uvarint(data[pos:])
		if n == 0 || l == 0 || l > sectionLimit || l > uint64(len(data)-pos-n) {
			return nil, nil, false
		}
		section := data[pos+n : pos+n+int(l)]
		pos += n + int(l)
		cn, c, err := cid.CidFromBytes(section)
		if err != nil {
			return nil, nil, false
		}
		raw := section[cn:]
		if len(raw) > maxBlock || !hashes(c, raw) {
			return nil, nil, false
		}
		if seen == nil {
			seen = make(map[cid.Cid]struct{})
		}
		if _, dup := seen[c]; dup {
			continue
		}
		seen[c] = struct{}{}
		// A copy, as go-car makes: a block kept (a cached proof) must not pin the message.
		blocks = append(blocks, Block{CID: c, Data: slices.Clone(raw)})
	}
	return roots, blocks, true
}

// readCARHeader reads the roots of a header {"roots": [links], "version": 1} written as
// AppendCARHeader writes it, and refuses (ok false) any other writing: bytes it takes are
// those AppendCARHeader writes for the roots it returns.
func readCARHeader(h []byte) ([]cid.Cid, bool) {
	entries, pos, ok := readHeadOf(h, cbor.MajorMap)
	if !ok || entries != 2 {
		return nil, false
	}
	n, ok := readKey(h[pos:], keyRoots)
	if !ok {
		return nil, false
	}
	pos += n
	count, n, ok := readHeadOf(h[pos:], cbor.MajorArray)
	if !ok || count > uint64(len(h)) {
		return nil, false
	}
	pos += n
	roots := make([]cid.Cid, 0, count)
	for range count {
		c, n, ok := readLink(h[pos:])
		if !ok {
			return nil, false
		}
		roots = append(roots, c)
		pos += n
	}
	n, ok = readKey(h[pos:], keyVersion)
	if !ok {
		return nil, false
	}
	pos += n
	if v, n, ok := readHeadOf(h[pos:], cbor.MajorUint); !ok || v != 1 || pos+n != len(h) {
		return nil, false
	}
	return roots, true
}

// hashes reports whether data hashes to c (sha2-256 directly, any other function the way
// go-car checks it).
func hashes(c cid.Cid, data []byte) bool {
	h := c.Hash()
	if len(h) == 2+sha256.Size && h[0] == multihash.SHA2_256 && h[1] == sha256.Size {
		sum := sha256.Sum256(data)
		return bytes.Equal(h[2:], sum[:])
	}
	got, err := c.Prefix().Sum(data)
	return err == nil && got.Equals(c)
}

// decodeRootFast fills m from a root block in its canonical form whose body holds
// "invocations" and/or "receipts" within lim; ok is false (m untouched) for anything
// else, which decodeRootRef then reads.
func decodeRootFast(data []byte, m *Message, lim Limits) bool {
	entries, pos, ok := readHeadOf(data, cbor.MajorMap)
	if !ok || entries != 1 {
		return false
	}
	n, ok := readKey(data[pos:], Tag)
	if !ok {
		return false
	}
	pos += n
	fields, n, ok := readHeadOf(data[pos:], cbor.MajorMap)
	if !ok || fields < 1 || fields > 2 {
		return false
	}
	pos += n
	var invs []cid.Cid
	var rcpts []Receipt
	last := ""
	for i := range fields {
		key, n, ok := readText(data[pos:])
		if !ok || (i > 0 && cbor.CompareKeys(last, key) >= 0) {
			return false
		}
		last = key
		pos += n
		switch key {
		case keyInvocations:
			if invs, n, ok = readLinks(data[pos:], lim.MaxInvocations); !ok {
				return false
			}
		case keyReceipts:
			if rcpts, n, ok = readReceipts(data[pos:], lim.MaxInvocations); !ok {
				return false
			}
		default:
			return false
		}
		pos += n
	}
	if pos != len(data) || (len(invs) == 0 && len(rcpts) == 0) {
		return false
	}
	m.Invocations, m.Receipts = invs, rcpts
	return true
}

// readLinks reads a list of at most limit links, keeping the first of repeats (as
// decodeLinks does).
func readLinks(b []byte, limit int) ([]cid.Cid, int, bool) {
	count, pos, ok := readHeadOf(b, cbor.MajorArray)
	if !ok || count > uint64(limit) {
		return nil, 0, false
	}
	out := make([]cid.Cid, 0, count)
	var seen map[cid.Cid]struct{}
	if count > linearDedup {
		seen = make(map[cid.Cid]struct{}, count)
	}
	for range count {
		c, n, ok := readLink(b[pos:])
		if !ok {
			return nil, 0, false
		}
		pos += n
		if seen != nil {
			if _, dup := seen[c]; dup {
				continue
			}
			seen[c] = struct{}{}
		} else if slices.Contains(out, c) {
			continue
		}
		out = append(out, c)
	}
	return out, pos, true
}

// linearDedup is the longest list readLinks checks for repeats by scanning what it kept;
// longer lists are checked with a map.
const linearDedup = 16

// readReceipts reads a map of at most limit entries from invocation CID strings to
// receipt links, keys in canonical order.
func readReceipts(b []byte, limit int) ([]Receipt, int, bool) {
	count, pos, ok := readHeadOf(b, cbor.MajorMap)
	if !ok || count > uint64(limit) {
		return nil, 0, false
	}
	out := make([]Receipt, 0, count)
	last := ""
	for i := range count {
		key, n, ok := readText(b[pos:])
		if !ok || (i > 0 && cbor.CompareKeys(last, key) >= 0) {
			return nil, 0, false
		}
		last = key
		pos += n
		inv, err := cid.Decode(key)
		if err != nil {
			return nil, 0, false
		}
		rc, n, ok := readLink(b[pos:])
		if !ok {
			return nil, 0, false
		}
		pos += n
		out = append(out, Receipt{Invocation: inv, Receipt: rc})
	}
	return out, pos, true
}

// appendRoot appends the root block of m, {Tag: {"invocations": [...]?, "receipts":
// {...}?}}, as dagcbor.Encode writes it; ok is false when m's receipts repeat an
// invocation or m holds an undefined CID (the reference path, rootRef, handles those).
func appendRoot(b []byte, m *Message) ([]byte, bool) {
	for _, c := range m.Invocations {
		if !c.Defined() {
			return b, false
		}
	}
	for _, r := range m.Receipts {
		if !r.Invocation.Defined() || !r.Receipt.Defined() {
			return b, false
		}
	}
	withInvs := len(m.Invocations) > 0 || len(m.Receipts) == 0
	fields := uint64(0)
	if withInvs {
		fields++
	}
	if len(m.Receipts) > 0 {
		fields++
	}
	b = cbor.AppendHead(b, cbor.MajorMap, 1)
	b = cbor.AppendText(b, Tag)
	b = cbor.AppendHead(b, cbor.MajorMap, fields)
	// "receipts" sorts before "invocations" (shorter first).
	if len(m.Receipts) > 0 {
		keys := make([]string, len(m.Receipts))
		order := make([]int, len(m.Receipts))
		for i, r := range m.Receipts {
			keys[i] = r.Invocation.String()
			order[i] = i
		}
		slices.SortFunc(order, func(i, j int) int { return cbor.CompareKeys(keys[i], keys[j]) })
		for i := 1; i < len(order); i++ {
			if keys[order[i-1]] == keys[order[i]] {
				return b, false
			}
		}
		b = cbor.AppendText(b, keyReceipts)
		b = cbor.AppendHead(b, cbor.MajorMap, uint64(len(order)))
		for _, i := range order {
			b = cbor.AppendText(b, keys[i])
			b = cbor.AppendLink(b, m.Receipts[i].Receipt)
		}
	}
	if withInvs {
		b = cbor.AppendText(b, keyInvocations)
		b = cbor.AppendHead(b, cbor.MajorArray, uint64(len(m.Invocations)))
		for _, c := range m.Invocations {
			b = cbor.AppendLink(b, c)
		}
	}
	return b, true
}
