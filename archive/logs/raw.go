package logs

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/multiformats/go-varint"

	"github.com/w3dag/w3dag/cbor"
	"github.com/w3dag/w3dag/internal/cidtext"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// The lines are written from the DAG-CBOR bytes of receipts and invocations as read from
// the records or kv: the fields a line needs are found in the envelope with cbor.ReadHead,
// and a receipt's out and an invocation's args are transcoded to DAG-JSON directly, with no
// go-ipld-prime node built (that was a third of a line's cost). The reader checks what it
// reads as ucan.Decode and receipts.Parse do (canonical heads, map keys in order, valid
// UTF-8, tag 42 CIDs, required fields, the receipt's shape), so a block they refuse is
// refused here too with ErrCorrupt; it does not check signatures or varsig headers, which
// the engine checked when it stored the block. The output is byte for byte what the
// go-ipld-prime path writes (FuzzReadReceipt, TestRawMatchesDecode); a float (rare in
// states and args) ends the transcoding with errFloat and the caller encodes that value
// through ucan.Decode and message.EncodeDAGJSON, which write floats as the lines always had.

// maxRawDepth bounds the nesting the reader follows inside args, meta and out: as
// ucan.Decode, the args map is at depth 0 and a value at depth ucan.MaxNestingDepth is
// refused.
const maxRawDepth = ucan.MaxNestingDepth

// The payload tags of invocations (ucan.TagInvocation and its rc.1 form).
var invocationTags = [...]string{ucan.TagInvocation, ucan.TagInvocationRC1}

// rawInvocation is what a line needs of an invocation, as views into its envelope.
type rawInvocation struct {
	iss, aud, sub, cmd []byte // aud nil when absent
	args               []byte // the args map, a canonical DAG-CBOR item
	meta               []byte // the meta map, nil when absent
	nonce              []byte // the nonce's bytes
	// at, argsAt and metaAt are the block offsets of the payload map, args and meta.
	at, argsAt, metaAt int
}

// rawReceipt is what a line needs of a receipt, as views into its envelope.
type rawReceipt struct {
	ran    []byte // CID bytes
	origin []byte // CID bytes, nil when none
	fx     []byte // the fx list item (validated links), nil when none
	ok     []byte // the out.ok item; nil for an error
	// errName and errMessage are out.error's (errMessage nil when absent).
	errName, errMessage []byte
	ts                  int64
}

// reader reads DAG-CBOR items from b at pos. A trusted reader reads bytes a reader
// checked before (a receipt's out.ok, an invocation's args, when written out): it still
// reads every head, but does not check UTF-8, CIDs or the order of map keys again.
type reader struct {
	b       []byte
	pos     int
	trusted bool
}

func (r *reader) fail(at int, format string, args ...any) error {
	return &ReadError{Offset: at, Reason: fmt.Sprintf(format, args...)}
}

// head reads a head (cbor.ReadHead: canonical for major types 0-6; for 7, arg is the
// additional information).
func (r *reader) head() (major byte, arg uint64, err error) {
	major, arg, n, err := cbor.ReadHead(r.b[r.pos:])
	if err != nil {
		return 0, 0, &ReadError{Offset: r.pos, Reason: "bad head", Err: err}
	}
	r.pos += n
	return major, arg, nil
}

// expect reads a head of major type want.
func (r *reader) expect(want byte, what string) (uint64, error) {
	at := r.pos
	major, arg, err := r.head()
	if err != nil {
		return 0, err
	}
	if major != want {
		return 0, r.fail(at, "%s: want %s, got %s", what, majorName(want), majorName(major))
	}
	return arg, nil
}

// take returns the next n bytes.
func (r *reader) take(n uint64, what string) ([]byte, error) {
	if n > uint64(len(r.b)-r.pos) {
		return nil, r.fail(r.pos, "%s: length %d exceeds the remaining %d bytes", what, n, len(r.b)-r.pos)
	}
	s := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s, nil
}

// count checks a list or map length against the remaining input (an item takes at least a
// byte, a map entry two).
func (r *reader) count(n, per uint64, what string) (int, error) {
	if n > uint64(len(r.b)-r.pos)/per {
		return 0, r.fail(r.pos, "%s: length %d exceeds the remaining input", what, n)
	}
	return int(n), nil
}

func (r *reader) bytes(what string) ([]byte, error) {
	n, err := r.expect(cbor.MajorBytes, what)
	if err != nil {
		return nil, err
	}
	return r.take(n, what)
}

func (r *reader) text(what string) ([]byte, error) {
	at := r.pos
	n, err := r.expect(cbor.MajorText, what)
	if err != nil {
		return nil, err
	}
	s, err := r.take(n, what)
	if err != nil {
		return nil, err
	}
	if !r.trusted && !utf8.Valid(s) {
		return nil, r.fail(at, "%s: invalid UTF-8", what)
	}
	return s, nil
}

// did reads a text that starts with "did:".
func (r *reader) did(what string) ([]byte, error) {
	at := r.pos
	s, err := r.text(what)
	if err == nil && !bytes.HasPrefix(s, []byte("did:")) {
		err = r.fail(at, "%s: %q is not a DID", what, s)
	}
	return s, err
}

// key reads a map key, which unless it is the map's first must sort strictly after
// *prev, the key before it (DAG-CBOR order: shorter first, then bytewise), and leaves it
// in *prev for the next.
func (r *reader) key(prev *[]byte, first bool) ([]byte, error) {
	at := r.pos
	k, err := r.text("map key")
	if err != nil {
		return nil, err
	}
	if !first && !r.trusted {
		if c := cbor.CompareKeys(*prev, k); c == 0 {
			return nil, r.fail(at, "duplicate map key %q", k)
		} else if c > 0 {
			return nil, &ReadError{Offset: at, Reason: fmt.Sprintf("map key %q sorts before %q", k, *prev), Err: cbor.ErrNonCanonical}
		}
	}
	*prev = k
	return k, nil
}

// int reads an integer that fits in int64.
func (r *reader) int(what string) (int64, error) {
	at := r.pos
	major, arg, err := r.head()
	if err != nil {
		return 0, err
	}
	switch {
	case major == cbor.MajorUint && arg <= math.MaxInt64:
		return int64(arg), nil
	case major == cbor.MajorNegint && arg <= math.MaxInt64:
		return -1 - int64(arg), nil
	case major == cbor.MajorUint || major == cbor.MajorNegint:
		return 0, r.fail(at, "%s: integer out of range", what)
	}
	return 0, r.fail(at, "%s: want integer, got %s", what, majorName(major))
}

// link reads a tag-42 link and returns its CID's bytes.
func (r *reader) link(what string) ([]byte, error) {
	at := r.pos
	tag, err := r.expect(cbor.MajorTag, what)
	if err != nil {
		return nil, err
	}
	return r.linkBody(tag, at, what)
}

// linkBody reads the bytes of a link whose tag, at at, was read.
func (r *reader) linkBody(tag uint64, at int, what string) ([]byte, error) {
	if tag != cbor.TagCID {
		return nil, r.fail(at, "%s: tag %d (only tag 42 is allowed)", what, tag)
	}
	b, err := r.bytes(what)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || b[0] != 0x00 {
		return nil, r.fail(at, "%s: link bytes lack the 0x00 multibase prefix", what)
	}
	if !r.trusted {
		if err := checkCID(b[1:]); err != nil {
			return nil, r.fail(at, "%s: %v", what, err)
		}
	}
	return b[1:], nil
}

// checkCID checks that b is exactly one CID, as cid.CidFromBytes reads them.
func checkCID(b []byte) error {
	n := 0
	if len(b) > 2 && b[0] == multihash.SHA2_256 && b[1] == 32 {
		if len(b) < 34 {
			return fmt.Errorf("not enough bytes for cid v0")
		}
		if _, err := multihash.Cast(b[:34]); err != nil {
			return err
		}
		n = 34
	} else {
		vers, vn, err := varint.FromUvarint(b)
		if err != nil {
			return err
		}
		if vers != 1 {
			return fmt.Errorf("expected 1 as the cid version number, got: %d", vers)
		}
		_, cn, err := varint.FromUvarint(b[vn:])
		if err != nil {
			return err
		}
		mn, _, err := multihash.MHFromBytes(b[vn+cn:])
		if err != nil {
			return err
		}
		n = vn + cn + mn
	}
	if n != len(b) {
		return fmt.Errorf("%d trailing bytes after CID", len(b)-n)
	}
	return nil
}

// skip reads one item at depth, checking it as ucan.Decode would.
func (r *reader) skip(depth int) error {
	_, err := r.item(depth, nil)
	return err
}

// item reads one item at depth, checking it, and returns its bytes; with w non-nil it
// also transcodes it to DAG-JSON into *w (errFloat at a float).
func (r *reader) item(depth int, w *[]byte) ([]byte, error) {
	start := r.pos
	if depth >= maxRawDepth {
		return nil, r.fail(start, "nesting deeper than %d", maxRawDepth)
	}
	major, arg, err := r.head()
	if err != nil {
		return nil, err
	}
	switch major {
	case cbor.MajorUint, cbor.MajorNegint:
		r.pos = start
		v, err := r.int("value")
		if err != nil {
			return nil, err
		}
		if w != nil {
			*w = strconv.AppendInt(*w, v, 10)
		}
	case cbor.MajorBytes:
		v, err := r.take(arg, "bytes")
		if err != nil {
			return nil, err
		}
		if w != nil {
			*w = append(*w, `{"/":{"bytes":"`...)
			*w = base64.RawStdEncoding.AppendEncode(*w, v)
			*w = append(*w, `"}}`...)
		}
	case cbor.MajorText:
		v, err := r.take(arg, "string")
		if err != nil {
			return nil, err
		}
		if !r.trusted && !utf8.Valid(v) {
			return nil, r.fail(start, "string: invalid UTF-8")
		}
		if w != nil {
			*w = appendQuoted(*w, v, quoteDAG)
		}
	case cbor.MajorArray:
		n, err := r.count(arg, 1, "list")
		if err != nil {
			return nil, err
		}
		if w != nil {
			*w = append(*w, '[')
		}
		for i := range n {
			if w != nil && i > 0 {
				*w = append(*w, ',')
			}
			if _, err := r.item(depth+1, w); err != nil {
				return nil, err
			}
		}
		if w != nil {
			*w = append(*w, ']')
		}
	case cbor.MajorMap:
		if err := r.mapItem(arg, depth, w); err != nil {
			return nil, err
		}
	case cbor.MajorTag:
		c, err := r.linkBody(arg, start, "link")
		if err != nil {
			return nil, err
		}
		if w != nil {
			*w = append(*w, `{"/":"`...)
			*w = cidtext.Append(*w, c)
			*w = append(*w, `"}`...)
		}
	default: // cbor.MajorSimple: arg is the additional information
		switch arg {
		case 20, 21, 22:
			if w != nil {
				*w = append(*w, [...]string{"false", "true", "null"}[arg-20]...)
			}
		case 27:
			if len(r.b)-r.pos < 8 {
				return nil, r.fail(start, "truncated float")
			}
			f := math.Float64frombits(binary.BigEndian.Uint64(r.b[r.pos:]))
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, r.fail(start, "NaN and infinities are not allowed")
			}
			r.pos += 8
			if w != nil {
				return nil, errFloat
			}
		case 25, 26:
			return nil, &ReadError{Offset: start, Reason: "floats must be 64-bit", Err: cbor.ErrNonCanonical}
		case 23:
			return nil, r.fail(start, "undefined is not allowed")
		default:
			return nil, r.fail(start, "simple value %d is not allowed", arg)
		}
	}
	return r.b[start:r.pos], nil
}

// rawEntry is a map entry: its key and its value's bytes.
type rawEntry struct{ key, value []byte }

// mapItem reads the n entries of a map whose head was read; with w non-nil it transcodes
// the map to DAG-JSON, keys sorted bytewise as message.EncodeDAGJSON sorts them. DAG-CBOR
// orders keys shorter first, so they are in bytewise order too unless a shorter key sorts
// after a longer one; while they are, each entry is written as it is read, and only a map
// whose keys are not is written again from its entries, sorted.
func (r *reader) mapItem(arg uint64, depth int, w *[]byte) error {
	n, err := r.count(arg, 2, "map")
	if err != nil {
		return err
	}
	if w == nil {
		var prev []byte
		for i := range n {
			if _, err := r.key(&prev, i == 0); err != nil {
				return err
			}
			if _, err := r.item(depth+1, nil); err != nil {
				return err
			}
		}
		return nil
	}
	start, mark := r.pos, len(*w)
	*w = append(*w, '{')
	var prev []byte
	sorted := true
	for i := range n {
		last := prev
		k, err := r.key(&prev, i == 0)
		if err != nil {
			return err
		}
		if i > 0 {
			if bytes.Compare(k, last) < 0 {
				sorted = false
				break
			}
			*w = append(*w, ',')
		}
		*w = appendQuoted(*w, k, quoteDAG)
		*w = append(*w, ':')
		if _, err := r.item(depth+1, w); err != nil {
			return err
		}
	}
	if sorted {
		*w = append(*w, '}')
		return nil
	}
	// Read again from the map's first entry, and write its entries sorted.
	*w = (*w)[:mark]
	r.pos = start
	var stack [maxSortedOnStack]rawEntry
	entries := stack[:0]
	prev = nil
	for i := range n {
		k, err := r.key(&prev, i == 0)
		if err != nil {
			return err
		}
		v, err := r.item(depth+1, nil)
		if err != nil {
			return err
		}
		entries = append(entries, rawEntry{k, v})
	}
	slices.SortFunc(entries, func(a, b rawEntry) int { return bytes.Compare(a.key, b.key) })
	*w = append(*w, '{')
	// The values are read again in place: a reader of their own would be an allocation
	// each (item is recursive, so escape analysis moves it to the heap).
	b, pos := r.b, r.pos
	defer func() { r.b, r.pos = b, pos }()
	for i, e := range entries {
		if i > 0 {
			*w = append(*w, ',')
		}
		*w = appendQuoted(*w, e.key, quoteDAG)
		*w = append(*w, ':')
		r.b, r.pos = e.value, 0
		if _, err := r.item(depth+1, w); err != nil {
			return err
		}
	}
	*w = append(*w, '}')
	return nil
}

// appendDAGJSONItem appends the DAG-JSON of the DAG-CBOR item v (checked when read: the
// reader trusts it), at depth, or returns errFloat.
func appendDAGJSONItem(b, v []byte, depth int) ([]byte, error) {
	r := reader{b: v, trusted: true}
	out := b
	if _, err := r.item(depth, &out); err != nil {
		return b, err
	}
	return out, nil
}

// mapText returns the text value of key in the map item m (checked when read), nil when m
// is not a map or has no such text value.
func mapText(m []byte, key string) []byte {
	r := reader{b: m, trusted: true}
	major, arg, err := r.head()
	if err != nil || major != cbor.MajorMap {
		return nil
	}
	for range arg {
		k, err := r.text("map key")
		if err != nil {
			return nil
		}
		if string(k) == key {
			if v, err := r.text("value"); err == nil {
				return v
			}
			return nil
		}
		if r.skip(1) != nil {
			return nil
		}
	}
	return nil
}

// readEnvelope reads the envelope [signature, {h, tag: payload}] of an invocation and
// returns a reader at its payload (a value: a reader on the heap was an allocation a block).
func readEnvelope(raw []byte) (reader, error) {
	if len(raw) > ucan.MaxTokenSize {
		return reader{}, &ReadError{Offset: 0, Reason: fmt.Sprintf("%d bytes exceeds %d", len(raw), ucan.MaxTokenSize)}
	}
	r := reader{b: raw}
	n, err := r.expect(cbor.MajorArray, "envelope")
	if err != nil {
		return reader{}, err
	}
	if n != 2 {
		return reader{}, r.fail(0, "envelope has %d elements, want 2 [signature, payload]", n)
	}
	if _, err := r.bytes("signature"); err != nil {
		return reader{}, err
	}
	at := r.pos
	if n, err = r.expect(cbor.MajorMap, "signature payload"); err != nil {
		return reader{}, err
	}
	if n != 2 {
		return reader{}, r.fail(at, "signature payload has %d keys, want 2 (h and the payload tag)", n)
	}
	at = r.pos
	var prev []byte
	if k, err := r.key(&prev, true); err != nil {
		return reader{}, err
	} else if string(k) != "h" {
		return reader{}, r.fail(at, "signature payload key %q, want \"h\" first", k)
	}
	if _, err := r.bytes("h"); err != nil {
		return reader{}, err
	}
	at = r.pos
	tag, err := r.key(&prev, false)
	if err != nil {
		return reader{}, err
	}
	if !slices.Contains(invocationTags[:], string(tag)) {
		return reader{}, r.fail(at, "payload tag %q is not an invocation's", tag)
	}
	return r, nil
}

// readInvocation reads the invocation in the envelope raw.
func readInvocation(raw []byte) (rawInvocation, error) {
	var inv rawInvocation
	er, err := readEnvelope(raw)
	if err != nil {
		return inv, err
	}
	r := &er
	at := r.pos
	inv.at = at
	n, err := r.expect(cbor.MajorMap, "invocation payload")
	if err != nil {
		return inv, err
	}
	cnt, err := r.count(n, 2, "invocation payload")
	if err != nil {
		return inv, err
	}
	var hasPrf bool
	var prev []byte
	for i := range cnt {
		k, err := r.key(&prev, i == 0)
		if err != nil {
			return inv, err
		}
		switch string(k) {
		case "iss":
			inv.iss, err = r.did("iss")
		case "sub":
			inv.sub, err = r.did("sub")
		case "aud":
			inv.aud, err = r.did("aud")
		case "cmd":
			inv.cmd, err = r.text("cmd")
		case "args", "meta":
			if b := r.b[r.pos:]; len(b) == 0 || b[0]>>5 != cbor.MajorMap {
				err = r.fail(r.pos, "%s: want a map", k)
				break
			}
			vAt := r.pos
			var v []byte
			v, err = r.item(0, nil)
			if string(k) == "args" {
				inv.args, inv.argsAt = v, vAt
			} else {
				inv.meta, inv.metaAt = v, vAt
			}
		case "prf":
			var l uint64
			if l, err = r.expect(cbor.MajorArray, "prf"); err == nil {
				hasPrf = true
				for range l {
					if _, err = r.link("prf"); err != nil {
						break
					}
				}
			}
		case "nonce":
			inv.nonce, err = r.bytes("nonce")
			if err == nil && inv.nonce == nil {
				inv.nonce = []byte{}
			}
		case "exp":
			if r.pos < len(r.b) && r.b[r.pos] == cbor.Null {
				r.pos++
				break
			}
			err = r.time("exp")
		case "iat":
			err = r.time("iat")
		case "cause":
			_, err = r.link("cause")
		default:
			err = r.fail(r.pos, "unknown field %q in invocation", k)
		}
		if err != nil {
			return inv, err
		}
	}
	for _, f := range [...]struct {
		ok   bool
		name string
	}{{inv.iss != nil, "iss"}, {inv.sub != nil, "sub"}, {inv.cmd != nil, "cmd"}, {inv.args != nil, "args"}, {hasPrf, "prf"}, {inv.nonce != nil, "nonce"}} {
		if !f.ok {
			return inv, r.fail(at, "invocation has no %s", f.name)
		}
	}
	if r.pos != len(r.b) {
		return inv, r.fail(r.pos, "%d trailing bytes after the envelope", len(r.b)-r.pos)
	}
	return inv, nil
}

// time reads a UCAN time: an integer within ±(2^53-1).
func (r *reader) time(what string) error {
	at := r.pos
	v, err := r.int(what)
	if err == nil && (v > 1<<53-1 || v < -(1<<53-1)) {
		err = r.fail(at, "%s: %d is outside ±(2^53-1)", what, v)
	}
	return err
}

// readReceipt reads the receipt in the envelope raw, checking its shape as
// receipts.Parse does.
func readReceipt(raw []byte) (rawReceipt, error) {
	var rc rawReceipt
	inv, err := readInvocation(raw)
	if err != nil {
		return rc, err
	}
	if string(inv.cmd) != receipts.Command {
		return rc, &ReadError{Offset: inv.at, Reason: fmt.Sprintf("not a receipt: command is %q, want %q", inv.cmd, receipts.Command)}
	}
	if !bytes.Equal(inv.sub, inv.iss) || !bytes.Equal(inv.aud, inv.iss) {
		return rc, &ReadError{Offset: inv.at, Reason: fmt.Sprintf("not a receipt: iss %q, sub %q and aud %q must be the same", inv.iss, inv.sub, inv.aud)}
	}
	// readInvocation checked args whole (UTF-8, links, key order): read it trusted, in
	// the block's offsets.
	r := &reader{b: raw[:inv.argsAt+len(inv.args)], pos: inv.argsAt, trusted: true}
	n, _ := r.expect(cbor.MajorMap, "args")
	var prev []byte
	var hasOut bool
	for i := range n {
		k, _ := r.key(&prev, i == 0)
		switch string(k) {
		case "ran":
			rc.ran, err = r.link("args.ran")
		case "origin":
			rc.origin, err = r.link("args.origin")
		case "path":
			_, err = r.text("args.path")
		case "fx":
			at := r.pos
			var l uint64
			if l, err = r.expect(cbor.MajorArray, "args.fx"); err != nil {
				break
			}
			if l > receipts.MaxFx {
				err = r.fail(at, "args.fx has %d links, more than %d", l, receipts.MaxFx)
				break
			}
			for range l {
				if _, err = r.link("args.fx"); err != nil {
					break
				}
			}
			rc.fx = r.b[at:r.pos]
		case "out":
			hasOut = true
			err = r.out(&rc)
		default:
			err = r.fail(r.pos, "unknown field args.%s", k)
		}
		if err != nil {
			return rc, err
		}
	}
	if rc.ran == nil {
		return rc, r.fail(inv.argsAt, "args.ran is missing")
	}
	if !hasOut {
		return rc, r.fail(inv.argsAt, "args.out is missing")
	}
	return rc, readMeta(raw, &inv, &rc)
}

// out reads a receipt's args.out into rc.
func (r *reader) out(rc *rawReceipt) error {
	at := r.pos
	n, err := r.expect(cbor.MajorMap, "args.out")
	if err != nil {
		return err
	}
	if n != 1 {
		return r.fail(at, "args.out must be a map with exactly one of ok and error")
	}
	var prev []byte
	k, err := r.key(&prev, true)
	if err != nil {
		return err
	}
	switch string(k) {
	case "ok":
		rc.ok, err = r.item(2, nil)
		return err
	case "error":
	default:
		return r.fail(at, "args.out must have ok or error")
	}
	at = r.pos
	if n, err = r.expect(cbor.MajorMap, "args.out.error"); err != nil {
		return err
	}
	for i := range n {
		k, err := r.key(&prev, i == 0)
		if err != nil {
			return err
		}
		switch string(k) {
		case "name":
			rc.errName, err = r.text("args.out.error.name")
		case "message":
			rc.errMessage, err = r.text("args.out.error.message")
		default:
			err = r.skip(3)
		}
		if err != nil {
			return err
		}
	}
	if len(rc.errName) == 0 {
		return r.fail(at, "args.out.error.name is missing or empty")
	}
	return nil
}

// readMeta reads the meta.ts of the receipt raw and checks its meta.seq (meta was
// checked by readInvocation).
func readMeta(raw []byte, inv *rawInvocation, rc *rawReceipt) error {
	if inv.meta == nil {
		return &ReadError{Offset: inv.at, Reason: "meta is missing"}
	}
	var hasTS, hasSeq bool
	m := &reader{b: raw[:inv.metaAt+len(inv.meta)], pos: inv.metaAt, trusted: true}
	n, _ := m.expect(cbor.MajorMap, "meta")
	for range n {
		k, _ := m.text("key")
		var err error
		switch string(k) {
		case "ts":
			rc.ts, err = m.int("meta.ts")
			hasTS = true
		case "seq":
			at := m.pos
			var s int64
			if s, err = m.int("meta.seq"); err == nil && s < 0 {
				err = m.fail(at, "meta.seq is negative")
			}
			hasSeq = true
		default:
			err = m.skip(1)
		}
		if err != nil {
			return err
		}
	}
	if !hasTS || !hasSeq {
		return m.fail(inv.metaAt, "meta.ts or meta.seq is missing")
	}
	return nil
}

// taskCID appends to b the string of inv's task CID: the CID of {cmd, sub, args, nonce}
// as ucan.Invocation.Task encodes it (inv's args are canonical, so their bytes are what it
// writes); scratch is reused.
func taskCID(b []byte, inv *rawInvocation, scratch []byte) ([]byte, []byte) {
	e := cbor.AppendHead(scratch[:0], cbor.MajorMap, 4)
	e = cbor.AppendText(e, "cmd")
	e = cbor.AppendHead(e, cbor.MajorText, uint64(len(inv.cmd)))
	e = append(e, inv.cmd...)
	e = cbor.AppendText(e, "sub")
	e = cbor.AppendHead(e, cbor.MajorText, uint64(len(inv.sub)))
	e = append(e, inv.sub...)
	e = cbor.AppendText(e, "args")
	e = append(e, inv.args...)
	e = cbor.AppendText(e, "nonce")
	e = cbor.AppendBytes(e, inv.nonce)
	sum := sha256.Sum256(e)
	var c [4 + sha256.Size]byte
	c[0], c[1], c[2], c[3] = 1, cid.DagCBOR, multihash.SHA2_256, sha256.Size
	copy(c[4:], sum[:])
	return cidtext.Append(b, c[:]), e
}

func majorName(major byte) string {
	switch major {
	case cbor.MajorUint, cbor.MajorNegint:
		return "integer"
	case cbor.MajorBytes:
		return "bytes"
	case cbor.MajorText:
		return "string"
	case cbor.MajorArray:
		return "list"
	case cbor.MajorMap:
		return "map"
	case cbor.MajorTag:
		return "tag"
	}
	return "simple value"
}
