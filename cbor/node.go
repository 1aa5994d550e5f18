package cbor

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/ipld/go-ipld-prime/datamodel"
)

// MaxDepth bounds the nesting of lists and maps AppendNode writes: the node passed in is
// at depth 0, and a node at depth MaxDepth is refused.
const MaxDepth = 64

// cidLink is a link that holds a CID. go-ipld-prime's cidlink.Link (a struct embedding a
// cid.Cid) has these methods; naming them instead of the type keeps go-ipld-prime's
// linking system out of this package.
type cidLink interface {
	Defined() bool
	KeyString() string
}

// Encode returns the canonical DAG-CBOR encoding of n (see AppendNode).
func Encode(n datamodel.Node) ([]byte, error) {
	return AppendNode(make([]byte, 0, 128), n)
}

// Encoded is a node with its canonical DAG-CBOR encoding, made by NewEncoded: for a value
// encoded once and then written again inside another (an entry's state, which is also
// out.ok of the receipt that holds it). It is the node it wraps for every datamodel.Node
// method; AppendNode writes its bytes as they are instead of walking it again, and refuses
// it, as it would the node, when placed so deep that the node's own nesting would pass
// MaxDepth. Only the datamodel.Node methods are passed on (not datamodel.UintNode): wrap
// maps and lists, not integers above math.MaxInt64, for other encoders to read.
type Encoded struct {
	datamodel.Node
	raw []byte
	// deepest is the depth, relative to the node, of its deepest node (0: a scalar or an
	// empty list or map).
	deepest int
}

// NewEncoded encodes n (as Encode does) and returns it with its bytes.
func NewEncoded(n datamodel.Node) (*Encoded, error) {
	if en, ok := n.(*Encoded); ok {
		return en, nil
	}
	deepest := 0
	raw, err := appendNode(make([]byte, 0, 128), n, 0, &deepest)
	if err != nil {
		return nil, err
	}
	return &Encoded{Node: n, raw: raw, deepest: deepest}, nil
}

// Raw returns the node's canonical DAG-CBOR encoding. The caller must not modify it.
func (e *Encoded) Raw() []byte { return e.raw }

// AppendNode appends the canonical DAG-CBOR encoding of n: map keys sorted with
// CompareKeys, integers and lengths in their shortest form, floats 64-bit, links as tag 42.
// Nodes DAG-CBOR cannot represent are refused with an error wrapping ErrUnencodable: NaN
// and infinities, strings (values or map keys) that are not valid UTF-8, links that are
// not defined CIDs, duplicate map keys, and lists or maps nested deeper
// than MaxDepth (and nil nodes). On error the returned slice holds what was written before the failure.
func AppendNode(b []byte, n datamodel.Node) ([]byte, error) {
	var deepest int
	return appendNode(b, n, 0, &deepest)
}

// appendNode appends n, at depth depth, and raises *deepest to the depth of the deepest
// node it writes.
func appendNode(b []byte, n datamodel.Node, depth int, deepest *int) ([]byte, error) {
	if depth >= MaxDepth {
		return b, errTooDeep
	}
	if n == nil {
		return b, fmt.Errorf("%w: nil node", ErrUnencodable)
	}
	if en, ok := n.(*Encoded); ok {
		// Its deepest node lies en.deepest below it: written node by node, that one
		// would be refused here.
		if depth+en.deepest >= MaxDepth {
			return b, errTooDeep
		}
		*deepest = max(*deepest, depth+en.deepest)
		return append(b, en.raw...), nil
	}
	*deepest = max(*deepest, depth)
	switch n.Kind() {
	case datamodel.Kind_Null:
		return AppendNull(b), nil
	case datamodel.Kind_Bool:
		v, err := n.AsBool()
		if err != nil {
			return b, nodeErr(n, err)
		}
		return AppendBool(b, v), nil
	case datamodel.Kind_Int:
		// Integers above math.MaxInt64 (basicnode holds them as UintNodes) are written as
		// dagcbor.Encode writes them.
		if un, ok := n.(datamodel.UintNode); ok {
			if v, err := un.AsUint(); err == nil {
				return AppendHead(b, MajorUint, v), nil
			}
		}
		v, err := n.AsInt()
		if err != nil {
			return b, nodeErr(n, err)
		}
		return AppendInt(b, v), nil
	case datamodel.Kind_Float:
		f, err := n.AsFloat()
		if err != nil {
			return b, nodeErr(n, err)
		}
		return AppendFloat(b, f)
	case datamodel.Kind_String:
		s, err := n.AsString()
		if err != nil {
			return b, nodeErr(n, err)
		}
		if !utf8.ValidString(s) {
			return b, fmt.Errorf("%w: string is not valid UTF-8", ErrUnencodable)
		}
		return AppendText(b, s), nil
	case datamodel.Kind_Bytes:
		v, err := n.AsBytes()
		if err != nil {
			return b, nodeErr(n, err)
		}
		return AppendBytes(b, v), nil
	case datamodel.Kind_Link:
		l, err := n.AsLink()
		if err != nil {
			return b, nodeErr(n, err)
		}
		cl, ok := l.(cidLink)
		if !ok || !cl.Defined() {
			return b, fmt.Errorf("%w: link %v is not a CID", ErrUnencodable, l)
		}
		return appendCIDBytes(b, cl.KeyString()), nil
	case datamodel.Kind_List:
		b = AppendHead(b, MajorArray, uint64(n.Length()))
		it := n.ListIterator()
		for !it.Done() {
			_, v, err := it.Next()
			if err != nil {
				return b, nodeErr(n, err)
			}
			if b, err = appendNode(b, v, depth+1, deepest); err != nil {
				return b, err
			}
		}
		return b, nil
	case datamodel.Kind_Map:
		return appendMap(b, n, depth, deepest)
	}
	return b, fmt.Errorf("%w: cannot encode a %s node", ErrUnencodable, n.Kind())
}

// errTooDeep is the error of a node nested deeper than MaxDepth.
var errTooDeep = fmt.Errorf("%w: nesting deeper than %d", ErrUnencodable, MaxDepth)

// nodeErr wraps an error a node returned when read.
func nodeErr(n datamodel.Node, err error) error {
	return fmt.Errorf("%w: reading a %s node: %w", ErrUnencodable, n.Kind(), err)
}

type mapEntry struct {
	k string
	v datamodel.Node
}

// appendMap writes a map with its keys in canonical order.
func appendMap(b []byte, n datamodel.Node, depth int, deepest *int) ([]byte, error) {
	// Small maps (receipts, states) sort on the stack.
	var small [16]mapEntry
	entries := small[:0]
	if l := n.Length(); l > int64(len(small)) {
		entries = make([]mapEntry, 0, l)
	}
	it := n.MapIterator()
	for !it.Done() {
		k, v, err := it.Next()
		if err != nil {
			return b, nodeErr(n, err)
		}
		ks, err := k.AsString()
		if err != nil {
			return b, fmt.Errorf("%w: map key is a %s, not a string", ErrUnencodable, k.Kind())
		}
		if !utf8.ValidString(ks) {
			return b, fmt.Errorf("%w: map key is not valid UTF-8", ErrUnencodable)
		}
		entries = append(entries, mapEntry{ks, v})
	}
	slices.SortFunc(entries, func(a, b mapEntry) int { return CompareKeys(a.k, b.k) })
	b = AppendHead(b, MajorMap, uint64(len(entries)))
	for i, en := range entries {
		if i > 0 && entries[i-1].k == en.k {
			return b, fmt.Errorf("%w: duplicate map key %q", ErrUnencodable, en.k)
		}
		b = AppendText(b, en.k)
		var err error
		if b, err = appendNode(b, en.v, depth+1, deepest); err != nil {
			return b, err
		}
	}
	return b, nil
}
