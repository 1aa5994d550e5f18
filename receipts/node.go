package receipts

import (
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/ipld/go-ipld-prime/node/mixins"
)

// fieldMap is the read-only map node Issue builds a receipt's args, out, error and meta
// with: its fields in the order given (Issue gives DAG-CBOR order, as the encoder writes
// them), looked up by scanning them. A receipt's maps have at most five fields, and a
// basicnode map keeps a Go map beside its entries: building one cost several allocations
// and about a hundred bytes a field on every receipt, the hot path of every write.
type fieldMap struct {
	mixins.Map
	f []field
}

// field is a key with its key node, made once, and its value.
type field struct {
	k  string
	kn datamodel.Node
	v  datamodel.Node
}

var _ datamodel.Node = (*fieldMap)(nil)

// fieldOf returns the field of key k (one of the key nodes below) with value v.
func fieldOf(k, v datamodel.Node) field {
	s, _ := k.AsString() // k is one of the key nodes below
	return field{k: s, kn: k, v: v}
}

// The keys of the maps Issue builds.
var (
	keyFx      = basicnode.NewString("fx")
	keyOut     = basicnode.NewString("out")
	keyRan     = basicnode.NewString("ran")
	keyPath    = basicnode.NewString("path")
	keyOrigin  = basicnode.NewString("origin")
	keyOk      = basicnode.NewString("ok")
	keyError   = basicnode.NewString("error")
	keyName    = basicnode.NewString("name")
	keyMessage = basicnode.NewString("message")
	keyTS      = basicnode.NewString("ts")
	keySeq     = basicnode.NewString("seq")
)

func (m *fieldMap) LookupByString(k string) (datamodel.Node, error) {
	for i := range m.f {
		if m.f[i].k == k {
			return m.f[i].v, nil
		}
	}
	return nil, datamodel.ErrNotExists{Segment: datamodel.PathSegmentOfString(k)}
}

func (m *fieldMap) LookupByNode(k datamodel.Node) (datamodel.Node, error) {
	s, err := k.AsString()
	if err != nil {
		return nil, err
	}
	return m.LookupByString(s)
}

func (m *fieldMap) LookupBySegment(seg datamodel.PathSegment) (datamodel.Node, error) {
	return m.LookupByString(seg.String())
}

func (m *fieldMap) MapIterator() datamodel.MapIterator { return &fieldIter{f: m.f} }

func (m *fieldMap) Length() int64 { return int64(len(m.f)) }

func (m *fieldMap) Prototype() datamodel.NodePrototype { return basicnode.Prototype.Map }

type fieldIter struct {
	f []field
	i int
}

func (it *fieldIter) Next() (datamodel.Node, datamodel.Node, error) {
	if it.i >= len(it.f) {
		return nil, nil, datamodel.ErrIteratorOverread{}
	}
	f := &it.f[it.i]
	it.i++
	return f.kn, f.v, nil
}

func (it *fieldIter) Done() bool { return it.i >= len(it.f) }
