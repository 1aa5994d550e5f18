package logs

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"

	"github.com/w3dag/w3dag/message"
)

// The out and args of the lines are DAG-JSON as message.EncodeDAGJSON writes it (map keys
// sorted, links {"/": cid}, bytes {"/": {"bytes": base64}}); ipld-prime's token stream
// behind it was most of what a line costs, so appendDAGJSON writes the same bytes
// directly (TestAppendDAGJSONMatches). Floats, rare in states, are left to
// message.EncodeDAGJSON, which writes whole ones with a fraction.

// errFloat ends appendDAGJSON at a float: the caller encodes the node with
// message.EncodeDAGJSON instead.
var errFloat = errors.New("logs: float")

// maxSortedOnStack is how many map entries appendDAGJSON sorts without allocating.
const maxSortedOnStack = 16

// encodeDAGJSON appends n as message.EncodeDAGJSON writes it.
func encodeDAGJSON(b []byte, n datamodel.Node) ([]byte, error) {
	out, err := appendDAGJSON(b, n)
	if !errors.Is(err, errFloat) {
		return out, err
	}
	s, err := message.DAGJSON(n)
	if err != nil {
		return b, err
	}
	return append(b, s...), nil
}

type mapEntry struct {
	key   string
	value datamodel.Node
}

// appendDAGJSON appends n as DAG-JSON, or returns errFloat when n holds a float.
func appendDAGJSON(b []byte, n datamodel.Node) ([]byte, error) {
	switch n.Kind() {
	case datamodel.Kind_Null:
		return append(b, "null"...), nil
	case datamodel.Kind_Bool:
		v, err := n.AsBool()
		if err != nil {
			return b, err
		}
		return strconv.AppendBool(b, v), nil
	case datamodel.Kind_Int:
		v, err := n.AsInt()
		if err != nil {
			return b, err
		}
		return strconv.AppendInt(b, v, 10), nil
	case datamodel.Kind_Float:
		return b, errFloat
	case datamodel.Kind_String:
		v, err := n.AsString()
		if err != nil {
			return b, err
		}
		return appendDAGString(b, v), nil
	case datamodel.Kind_Bytes:
		v, err := n.AsBytes()
		if err != nil {
			return b, err
		}
		b = append(b, `{"/":{"bytes":"`...)
		b = base64.RawStdEncoding.AppendEncode(b, v)
		return append(b, `"}}`...), nil
	case datamodel.Kind_Link:
		l, err := n.AsLink()
		if err != nil {
			return b, err
		}
		cl, ok := l.(cidlink.Link)
		if !ok {
			return b, fmt.Errorf("schemafree link emission only supported by this codec for CID type links; got type %T", l)
		}
		if !cl.Cid.Defined() {
			return b, fmt.Errorf("encoding undefined CIDs are not supported by this codec")
		}
		b = append(b, `{"/":"`...)
		b = append(b, cl.Cid.String()...)
		return append(b, `"}`...), nil
	case datamodel.Kind_List:
		b = append(b, '[')
		for i := range n.Length() {
			v, err := n.LookupByIndex(i)
			if err != nil {
				return b, err
			}
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendDAGJSON(b, v); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case datamodel.Kind_Map:
		var stack [maxSortedOnStack]mapEntry
		entries := stack[:0]
		for it := n.MapIterator(); !it.Done(); {
			k, v, err := it.Next()
			if err != nil {
				return b, err
			}
			ks, err := k.AsString()
			if err != nil {
				return b, err
			}
			entries = append(entries, mapEntry{ks, v})
		}
		if int64(len(entries)) != n.Length() {
			return b, fmt.Errorf("map Length() does not match number of MapIterator() entries")
		}
		slices.SortFunc(entries, func(a, c mapEntry) int { return strings.Compare(a.key, c.key) })
		b = append(b, '{')
		for i, e := range entries {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendDAGString(b, e.key)
			b = append(b, ':')
			var err error
			if b, err = appendDAGJSON(b, e.value); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	default:
		return b, fmt.Errorf("cannot traverse a node of kind %s", n.Kind())
	}
}

// appendDAGString appends s as a JSON string the way DAG-JSON strings are written
// (refmt's encoder): as appendString, except \b and \f, written \u0008 and \u000c.
func appendDAGString(b []byte, s string) []byte {
	return appendQuoted(b, s, quoteDAG)
}
