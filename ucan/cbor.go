package ucan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/cbor"
)

// This file holds the strict DAG-CBOR reader the envelope is verified with, and the thin
// encoder the payloads are written with. The reader accepts only the canonical form
// (definite lengths, shortest integer and length encodings — both checked by cbor.ReadHead —
// map keys text and sorted by length then bytewise, 64-bit floats, tag 42 only, simple
// values false/true/null) so that verifying a signature over the received bytes is
// equivalent to verifying over the re-encoded data model, without paying for a generic
// decode and re-encode. The encoder writes with package cbor, the one canonical writer the
// engine also encodes entry states with, so a state and the same state inside its receipt
// are the same bytes.

// CBOR major types.
const (
	majUint   = cbor.MajorUint
	majNegint = cbor.MajorNegint
	majBytes  = cbor.MajorBytes
	majText   = cbor.MajorText
	majArray  = cbor.MajorArray
	majMap    = cbor.MajorMap
	majTag    = cbor.MajorTag
	majSimple = cbor.MajorSimple
)

// tagCID is the CBOR tag DAG-CBOR uses for links.
const tagCID = cbor.TagCID

// maxSafeInt is 2^53-1, the bound on UCAN time fields.
const maxSafeInt = 1<<53 - 1

type decoder struct {
	b     []byte
	pos   int
	depth int
}

func (d *decoder) errf(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", ErrMalformed, d.pos, fmt.Sprintf(format, args...))
}

func (d *decoder) noncanon(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", ErrNonCanonical, d.pos, fmt.Sprintf(format, args...))
}

func (d *decoder) done() bool { return d.pos >= len(d.b) }

// peek returns the next initial byte without consuming it.
func (d *decoder) peek() (byte, error) {
	if d.pos >= len(d.b) {
		return 0, d.errf("unexpected end of input")
	}
	return d.b[d.pos], nil
}

// head reads a data item head for major types 0-6 and returns its major type and argument.
// Major type 7 (simple values and floats) is returned with the raw additional info as arg.
func (d *decoder) head() (byte, uint64, error) {
	maj, arg, n, err := cbor.ReadHead(d.b[d.pos:])
	if err != nil {
		if errors.Is(err, cbor.ErrNonCanonical) {
			return 0, 0, fmt.Errorf("%w at byte %d: %w", ErrNonCanonical, d.pos, err)
		}
		return 0, 0, fmt.Errorf("%w at byte %d: %w", ErrMalformed, d.pos, err)
	}
	d.pos += n
	return maj, arg, nil
}

// expect reads a head of the given major type.
func (d *decoder) expect(maj byte, what string) (uint64, error) {
	start := d.pos
	m, arg, err := d.head()
	if err != nil {
		return 0, err
	}
	if m != maj {
		d.pos = start
		return 0, d.errf("%s: want %s, got %s", what, majorName(maj), d.describe(m, arg))
	}
	return arg, nil
}

func (d *decoder) describe(maj byte, arg uint64) string {
	if maj == majSimple {
		switch arg {
		case 20, 21:
			return "boolean"
		case 22:
			return "null"
		case 25, 26, 27:
			return "float"
		}
	}
	if maj == majTag {
		return "tag"
	}
	return majorName(maj)
}

func majorName(maj byte) string {
	switch maj {
	case majUint, majNegint:
		return "integer"
	case majBytes:
		return "bytes"
	case majText:
		return "string"
	case majArray:
		return "list"
	case majMap:
		return "map"
	case majTag:
		return "tag"
	}
	return "simple value"
}

// take returns the next n bytes (a view into the input, not a copy).
func (d *decoder) take(n uint64) ([]byte, error) {
	if n > uint64(len(d.b)-d.pos) {
		return nil, d.errf("length %d exceeds remaining %d bytes", n, len(d.b)-d.pos)
	}
	s := d.b[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return s, nil
}

// count validates a list or map length against the remaining input (every item takes at
// least one byte, every map entry two), so hostile lengths cannot force large allocations.
func (d *decoder) count(n uint64, perItem uint64) (int, error) {
	if n > uint64(len(d.b)-d.pos)/perItem {
		return 0, d.errf("length %d exceeds remaining input", n)
	}
	return int(n), nil
}

func (d *decoder) bytes(what string) ([]byte, error) {
	n, err := d.expect(majBytes, what)
	if err != nil {
		return nil, err
	}
	return d.take(n)
}

func (d *decoder) text(what string) (string, error) {
	n, err := d.expect(majText, what)
	if err != nil {
		return "", err
	}
	s, err := d.take(n)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(s) {
		return "", d.errf("%s: invalid UTF-8", what)
	}
	return string(s), nil
}

// key reads a map key and checks it sorts strictly after prev (DAG-CBOR order: shorter
// first, then bytewise). first is true for the first key of a map.
func (d *decoder) key(prev string, first bool) (string, error) {
	start := d.pos
	k, err := d.text("map key")
	if err != nil {
		return "", err
	}
	if !first {
		switch {
		case k == prev:
			d.pos = start
			return "", d.errf("duplicate map key %q", k)
		case len(k) < len(prev) || (len(k) == len(prev) && k < prev):
			d.pos = start
			return "", d.noncanon("map key %q sorts before %q", k, prev)
		}
	}
	return k, nil
}

// isNull consumes a null if one is next.
func (d *decoder) isNull() bool {
	if d.pos < len(d.b) && d.b[d.pos] == 0xf6 {
		d.pos++
		return true
	}
	return false
}

// int reads an integer that fits in int64.
func (d *decoder) int(what string) (int64, error) {
	start := d.pos
	m, arg, err := d.head()
	if err != nil {
		return 0, err
	}
	switch m {
	case majUint:
		if arg > math.MaxInt64 {
			d.pos = start
			return 0, d.errf("%s: integer %d out of range", what, arg)
		}
		return int64(arg), nil
	case majNegint:
		if arg > math.MaxInt64 {
			d.pos = start
			return 0, d.errf("%s: integer -1-%d out of range", what, arg)
		}
		return -1 - int64(arg), nil
	}
	d.pos = start
	return 0, d.errf("%s: want integer, got %s", what, d.describe(m, arg))
}

// link reads a tag-42 CID.
func (d *decoder) link(what string) (cid.Cid, error) {
	start := d.pos
	m, arg, err := d.head()
	if err != nil {
		return cid.Undef, err
	}
	if m != majTag {
		d.pos = start
		return cid.Undef, d.errf("%s: want link, got %s", what, d.describe(m, arg))
	}
	return d.linkBody(what, arg, start)
}

func (d *decoder) linkBody(what string, tag uint64, start int) (cid.Cid, error) {
	if tag != tagCID {
		d.pos = start
		return cid.Undef, d.errf("%s: tag %d (only tag 42 is allowed)", what, tag)
	}
	b, err := d.bytes(what)
	if err != nil {
		return cid.Undef, err
	}
	if len(b) < 2 || b[0] != 0x00 {
		d.pos = start
		return cid.Undef, d.errf("%s: link bytes lack the 0x00 multibase prefix", what)
	}
	n, c, err := cid.CidFromBytes(b[1:])
	if err != nil {
		d.pos = start
		return cid.Undef, d.errf("%s: %v", what, err)
	}
	if n != len(b)-1 {
		d.pos = start
		return cid.Undef, d.errf("%s: %d trailing bytes after CID", what, len(b)-1-n)
	}
	return c, nil
}

// node reads any DAG-CBOR value into na.
func (d *decoder) node(na datamodel.NodeAssembler, what string) error {
	if d.depth >= MaxNestingDepth {
		return d.errf("%s: nesting deeper than %d", what, MaxNestingDepth)
	}
	start := d.pos
	m, arg, err := d.head()
	if err != nil {
		return err
	}
	switch m {
	case majUint, majNegint:
		d.pos = start
		v, err := d.int(what)
		if err != nil {
			return err
		}
		return na.AssignInt(v)
	case majBytes:
		b, err := d.take(arg)
		if err != nil {
			return err
		}
		return na.AssignBytes(slices.Clone(b))
	case majText:
		b, err := d.take(arg)
		if err != nil {
			return err
		}
		if !utf8.Valid(b) {
			d.pos = start
			return d.errf("%s: invalid UTF-8", what)
		}
		return na.AssignString(string(b))
	case majArray:
		n, err := d.count(arg, 1)
		if err != nil {
			return err
		}
		la, err := na.BeginList(int64(n))
		if err != nil {
			return err
		}
		d.depth++
		for i := 0; i < n; i++ {
			if err := d.node(la.AssembleValue(), what); err != nil {
				return err
			}
		}
		d.depth--
		return la.Finish()
	case majMap:
		n, err := d.count(arg, 2)
		if err != nil {
			return err
		}
		ma, err := na.BeginMap(int64(n))
		if err != nil {
			return err
		}
		d.depth++
		prev := ""
		for i := 0; i < n; i++ {
			k, err := d.key(prev, i == 0)
			if err != nil {
				return err
			}
			prev = k
			if err := ma.AssembleKey().AssignString(k); err != nil {
				return err
			}
			if err := d.node(ma.AssembleValue(), what); err != nil {
				return err
			}
		}
		d.depth--
		return ma.Finish()
	case majTag:
		c, err := d.linkBody(what, arg, start)
		if err != nil {
			return err
		}
		return na.AssignLink(cidlink.Link{Cid: c})
	default: // majSimple
		switch arg {
		case 20:
			return na.AssignBool(false)
		case 21:
			return na.AssignBool(true)
		case 22:
			return na.AssignNull()
		case 27:
			if d.pos+8 > len(d.b) {
				return d.errf("truncated float")
			}
			f := math.Float64frombits(binary.BigEndian.Uint64(d.b[d.pos:]))
			if math.IsNaN(f) || math.IsInf(f, 0) {
				d.pos = start
				return d.errf("%s: NaN and infinities are not allowed", what)
			}
			d.pos += 8
			return na.AssignFloat(f)
		case 25, 26:
			d.pos = start
			return d.noncanon("%s: floats must be 64-bit", what)
		case 23:
			d.pos = start
			return d.errf("%s: undefined is not allowed", what)
		default:
			d.pos = start
			return d.errf("%s: simple value %d is not allowed", what, arg)
		}
	}
}

// anyNode reads any value as a basicnode.
func (d *decoder) anyNode(what string) (datamodel.Node, error) {
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := d.node(nb, what); err != nil {
		return nil, err
	}
	return nb.Build(), nil
}

// mapNode reads a map value as a basicnode.
func (d *decoder) mapNode(what string) (datamodel.Node, error) {
	b, err := d.peek()
	if err != nil {
		return nil, err
	}
	if b>>5 != majMap {
		m, arg, err := (&decoder{b: d.b, pos: d.pos}).head()
		if err != nil {
			return nil, err
		}
		return nil, d.errf("%s: want map, got %s", what, d.describe(m, arg))
	}
	return d.anyNode(what)
}

// encoder writes canonical DAG-CBOR with package cbor.
type encoder struct{ buf []byte }

func (e *encoder) head(maj byte, arg uint64) { e.buf = cbor.AppendHead(e.buf, maj, arg) }
func (e *encoder) text(s string)             { e.buf = cbor.AppendText(e.buf, s) }
func (e *encoder) bytes(b []byte)            { e.buf = cbor.AppendBytes(e.buf, b) }
func (e *encoder) int(v int64)               { e.buf = cbor.AppendInt(e.buf, v) }
func (e *encoder) null()                     { e.buf = cbor.AppendNull(e.buf) }
func (e *encoder) link(c cid.Cid)            { e.buf = cbor.AppendLink(e.buf, c) }

// node writes any data-model node, sorting map keys canonically. Nodes DAG-CBOR cannot
// represent (and nesting deeper than MaxNestingDepth) are ErrInvalidField.
func (e *encoder) node(n datamodel.Node) error {
	b, err := cbor.AppendNode(e.buf, n)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidField, err)
	}
	e.buf = b
	return nil
}
