package dag

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/cbor"
)

// Statuses the engine itself knows. A put on an entry whose status is StatusFailed,
// StatusExpired or StatusRemoved starts the entry again (Machine.Start, moved to the end
// of the collection's order); select leaves StatusRemoved entries out unless asked for.
const (
	StatusFailed  = "failed"
	StatusExpired = "expired"
	StatusRemoved = "removed"
	StatusDone    = "done"
	// StatusKey is the field of every state that holds its status.
	StatusKey = "status"
	// MaxStatusLength is the longest status a machine may return, in bytes.
	MaxStatusLength = 64
)

// StateText returns s as a state may hold it: valid UTF-8 (a state's strings are DAG-CBOR
// text, which a string with an invalid sequence cannot be encoded as: each becomes U+FFFD)
// of at most limit bytes, cut at a character boundary. Machines use it for text they did
// not write themselves, such as an error quoting bytes from elsewhere: a state that cannot
// be encoded cannot be written.
func StateText(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= limit {
		return s
	}
	cut := max(limit, 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Entry is the current head of a path: its head receipt and the state that receipt holds.
type Entry struct {
	Path Path
	// Head is the CID of the head receipt.
	Head cid.Cid
	// Value is the CID (dag-cbor, sha2-256) of the value last put, cid.Undef for entries
	// only the service wrote.
	Value cid.Cid
	// Status is the state's "status".
	Status string
	// State is the head receipt's out.ok.
	State datamodel.Node
	// Seq is the commit sequence of the head receipt.
	Seq uint64
	// Order is the entry's position in its collection: the sequence at which it was
	// (re)started. Select lists entries by Order.
	Order uint64

	stateRaw []byte
}

// Live reports whether the entry is live: not failed, expired or removed.
func (e *Entry) Live() bool { return !restartable(e.Status) }

func restartable(status string) bool {
	return status == StatusFailed || status == StatusExpired || status == StatusRemoved
}

const entryVersion = 1

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// appendString is appendBytes of a string.
func appendString(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func (e *Entry) encode() []byte {
	b := make([]byte, 0, 96+len(e.Status)+len(e.stateRaw))
	b = append(b, entryVersion)
	b = binary.AppendUvarint(b, e.Seq)
	b = binary.AppendUvarint(b, e.Order)
	// KeyString is a CID's bytes (empty for cid.Undef), without Bytes' copy.
	b = appendString(b, e.Head.KeyString())
	b = appendString(b, e.Value.KeyString())
	b = appendString(b, e.Status)
	return append(b, e.stateRaw...)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad varint", ErrCorrupt)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: truncated record", ErrCorrupt)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) cid(optional bool) cid.Cid {
	v := r.bytes()
	if r.err != nil {
		return cid.Undef
	}
	if len(v) == 0 && optional {
		return cid.Undef
	}
	c, err := cid.Cast(v)
	if err != nil {
		r.err = fmt.Errorf("%w: bad CID: %w", ErrCorrupt, err)
	}
	return c
}

// decodeEntry decodes an entry record; raw is copied.
func decodeEntry(p Path, raw []byte) (*Entry, error) {
	if len(raw) == 0 || raw[0] != entryVersion {
		return nil, fmt.Errorf("%w: entry %s: unknown record version", ErrCorrupt, p)
	}
	r := &reader{b: raw[1:]}
	e := &Entry{Path: p}
	e.Seq = r.uvarint()
	e.Order = r.uvarint()
	e.Head = r.cid(false)
	e.Value = r.cid(true)
	e.Status = string(r.bytes())
	if r.err != nil {
		return nil, fmt.Errorf("entry %s: %w", p, r.err)
	}
	e.stateRaw = bytes.Clone(r.b)
	st, err := decodeNode(e.stateRaw)
	if err != nil {
		return nil, fmt.Errorf("%w: entry %s: state: %w", ErrCorrupt, p, err)
	}
	e.State = st
	return e, nil
}

func decodeNode(b []byte) (datamodel.Node, error) {
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(b)); err != nil {
		return nil, err
	}
	return nb.Build(), nil
}

// encodeNode returns the canonical DAG-CBOR of n: entry states, and values (whose CID is
// the entry's Value). It is package cbor's encoder, the one ucan writes receipts with, so
// an entry's state bytes are the bytes of out.ok inside its head receipt.
func encodeNode(n datamodel.Node) ([]byte, error) {
	return cbor.Encode(n)
}

// cborCID returns the CIDv1 dag-cbor sha2-256 of encoded bytes.
func cborCID(b []byte) (cid.Cid, error) {
	mh, err := multihash.Sum(b, multihash.SHA2_256, -1)
	if err != nil {
		return cid.Undef, err
	}
	return cid.NewCidV1(cid.DagCBOR, mh), nil
}

// statusOf returns the string "status" of a state.
func statusOf(state datamodel.Node) (string, error) {
	if state == nil || state.Kind() != datamodel.Kind_Map {
		return "", fmt.Errorf("%w: state is not a map", ErrInvalidState)
	}
	v, err := state.LookupByString(StatusKey)
	if err != nil {
		return "", fmt.Errorf("%w: state has no %q", ErrInvalidState, StatusKey)
	}
	s, err := v.AsString()
	if err != nil || s == "" || len(s) > MaxStatusLength {
		return "", fmt.Errorf("%w: state %q is not a string of 1 to %d bytes", ErrInvalidState, StatusKey, MaxStatusLength)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return "", fmt.Errorf("%w: state %q %q holds a control character", ErrInvalidState, StatusKey, s)
		}
	}
	return s, nil
}

// EntryPrefix starts the kv keys of entry records: entry/<subject>/<collection>/<key>.
const EntryPrefix = prefixEntry

// DecodeEntryRecord decodes the kv record of an entry, key (under EntryPrefix) and value,
// as read from a store the engine wrote: for tools that compare stores without an engine
// (w3dag verify). Errors wrap ErrCorrupt.
func DecodeEntryRecord(key, value []byte) (*Entry, error) {
	rest, ok := bytes.CutPrefix(key, []byte(prefixEntry))
	if !ok {
		return nil, fmt.Errorf("%w: %q is not an entry key", ErrCorrupt, key)
	}
	p, err := ParsePath("/" + string(rest))
	if err != nil {
		return nil, fmt.Errorf("%w: entry key %q: %v", ErrCorrupt, key, err)
	}
	return decodeEntry(p, value)
}
