package archive

import (
	"encoding/binary"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/message"
)

// SegmentPrefix starts the blob keys of segments: segment/<segment CID>, where the CID is
// CIDv1, codec car (0x0202), sha2-256 of the segment's bytes.
const SegmentPrefix = "segment/"

// IndexPrefix starts the kv keys of the segment index: archive/workflow/<msg> (the seed's
// logical name workflow/<msg>, the message CID in its canonical string form) → where the
// message's bytes are (see location).
const IndexPrefix = "archive/workflow/"

// SegmentKey is the blob key of segment seg.
func SegmentKey(seg cid.Cid) string { return SegmentPrefix + seg.String() }

// indexKey is the kv key of message msg in the segment index.
func indexKey(msg cid.Cid) []byte { return []byte(IndexPrefix + msg.String()) }

// location is where a message's bytes are in a segment: Length bytes from Offset.
type location struct {
	Segment cid.Cid
	Offset  int64
	Length  int64
}

// encode returns the index value: uvarint offset, uvarint length, the segment CID's bytes.
func (l location) encode() []byte {
	out := binary.AppendUvarint(nil, uint64(l.Offset))
	out = binary.AppendUvarint(out, uint64(l.Length))
	return append(out, l.Segment.Bytes()...)
}

// decodeLocation parses an index value; errors wrap ErrCorrupt.
func decodeLocation(v []byte) (location, error) {
	off, n := binary.Uvarint(v)
	if n <= 0 || off > uint64(maxSegmentSize) {
		return location{}, fmt.Errorf("%w: index value: bad offset", ErrCorrupt)
	}
	v = v[n:]
	length, n := binary.Uvarint(v)
	if n <= 0 || length > MaxMessageSize {
		return location{}, fmt.Errorf("%w: index value: bad length", ErrCorrupt)
	}
	seg, err := cid.Cast(v[n:])
	if err != nil {
		return location{}, fmt.Errorf("%w: index value: segment CID: %v", ErrCorrupt, err)
	}
	return location{Segment: seg, Offset: int64(off), Length: int64(length)}, nil
}

// maxSegmentSize bounds a segment's bytes: a round's messages (maxRoundBytes) plus the
// message that crossed the threshold (at most kv.MaxValueSize) and the CAR framing.
const maxSegmentSize = 2*maxRoundBytes + 1<<20

// encodeSegment packs msgs into one segment: a CAR v1 whose root is the first message
// and whose blocks are the messages, each under its own CID, in order. It returns the
// segment's bytes and CID and each message's location in it.
func encodeSegment(msgs []outboxMsg) ([]byte, cid.Cid, []location, error) {
	blocks := make([]message.Block, len(msgs))
	for i, m := range msgs {
		blocks[i] = message.Block{CID: m.msg, Data: m.data}
	}
	data, err := message.EncodeCAR([]cid.Cid{msgs[0].msg}, blocks)
	if err != nil {
		return nil, cid.Undef, nil, fmt.Errorf("encoding a segment: %w", err)
	}
	seg := message.Sum(message.CodecCAR, data)
	locs := make([]location, len(msgs))
	// Walk the sections: a length varint, then the header or a block (CID, data).
	hlen, n := binary.Uvarint(data)
	pos := n + int(hlen)
	for i, m := range msgs {
		section, n := binary.Uvarint(data[pos:])
		pos += n
		start := pos + m.msg.ByteLen()
		locs[i] = location{Segment: seg, Offset: int64(start), Length: int64(len(m.data))}
		pos += int(section)
	}
	return data, seg, locs, nil
}
