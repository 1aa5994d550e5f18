package message

import (
	"bytes"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

// BlockNode decodes one block as IPLD data: DAG-CBOR blocks as the data they encode, any
// other codec as bytes.
func BlockNode(b Block) (datamodel.Node, error) {
	if b.CID.Type() != CodecDAGCBOR {
		return basicnode.NewBytes(b.Data), nil
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(b.Data)); err != nil {
		return nil, fmt.Errorf("decoding block %s: %w", b.CID, err)
	}
	return nb.Build(), nil
}

// BlockJSON renders one block as DAG-JSON (see BlockNode).
func BlockJSON(b Block) ([]byte, error) {
	n, err := BlockNode(b)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := dagjson.Encode(n, &buf); err != nil {
		return nil, fmt.Errorf("encoding block %s as DAG-JSON: %w", b.CID, err)
	}
	return buf.Bytes(), nil
}

// EncodeJSON renders roots and blocks as the DAG-JSON document
//
//	{"blocks": [{"cid": {"/": "<cid>"}, "data": <block>}, …], "roots": [{"/": "<cid>"}, …]}
//
// keeping the order of blocks.
func EncodeJSON(roots []cid.Cid, blocks []Block) ([]byte, error) {
	nb := basicnode.Prototype.Map.NewBuilder()
	ma, err := nb.BeginMap(2)
	if err != nil {
		return nil, err
	}
	ba, err := ma.AssembleEntry("blocks")
	if err != nil {
		return nil, err
	}
	la, err := ba.BeginList(int64(len(blocks)))
	if err != nil {
		return nil, err
	}
	for _, b := range blocks {
		n, err := BlockNode(b)
		if err != nil {
			return nil, err
		}
		ea, err := la.AssembleValue().BeginMap(2)
		if err != nil {
			return nil, err
		}
		ca, err := ea.AssembleEntry("cid")
		if err != nil {
			return nil, err
		}
		if err := ca.AssignLink(cidlink.Link{Cid: b.CID}); err != nil {
			return nil, err
		}
		da, err := ea.AssembleEntry("data")
		if err != nil {
			return nil, err
		}
		if err := da.AssignNode(n); err != nil {
			return nil, err
		}
		if err := ea.Finish(); err != nil {
			return nil, err
		}
	}
	if err := la.Finish(); err != nil {
		return nil, err
	}
	ra, err := ma.AssembleEntry("roots")
	if err != nil {
		return nil, err
	}
	rla, err := ra.BeginList(int64(len(roots)))
	if err != nil {
		return nil, err
	}
	for _, c := range roots {
		if err := rla.AssembleValue().AssignLink(cidlink.Link{Cid: c}); err != nil {
			return nil, err
		}
	}
	if err := rla.Finish(); err != nil {
		return nil, err
	}
	if err := ma.Finish(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := dagjson.Encode(nb.Build(), &buf); err != nil {
		return nil, fmt.Errorf("encoding DAG-JSON: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodeJSON parses what EncodeJSON wrote, re-encoding each block with the codec of its CID
// and checking that it hashes to that CID, so the blocks are exactly the ones encoded.
func DecodeJSON(data []byte) ([]cid.Cid, []Block, error) {
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagjson.Decode(nb, bytes.NewReader(data)); err != nil {
		return nil, nil, fmt.Errorf("%w: not DAG-JSON: %v", ErrMalformed, err)
	}
	doc := nb.Build()
	if doc.Kind() != datamodel.Kind_Map {
		return nil, nil, fmt.Errorf("%w: DAG-JSON document must be a map", ErrMalformed)
	}
	rootsNode, err := doc.LookupByString("roots")
	if err != nil || rootsNode.Kind() != datamodel.Kind_List {
		return nil, nil, fmt.Errorf("%w: DAG-JSON document needs a roots list", ErrMalformed)
	}
	var roots []cid.Cid
	for it := rootsNode.ListIterator(); !it.Done(); {
		i, v, err := it.Next()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: roots: %v", ErrMalformed, err)
		}
		c, err := asCID(v)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: roots[%d]: %v", ErrMalformed, i, err)
		}
		roots = append(roots, c)
	}
	blocksNode, err := doc.LookupByString("blocks")
	if err != nil || blocksNode.Kind() != datamodel.Kind_List {
		return nil, nil, fmt.Errorf("%w: DAG-JSON document needs a blocks list", ErrMalformed)
	}
	var blocks []Block
	for it := blocksNode.ListIterator(); !it.Done(); {
		i, v, err := it.Next()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: blocks: %v", ErrMalformed, err)
		}
		cn, err := v.LookupByString("cid")
		if err != nil {
			return nil, nil, fmt.Errorf("%w: blocks[%d] has no cid", ErrMalformed, i)
		}
		c, err := asCID(cn)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: blocks[%d].cid: %v", ErrMalformed, i, err)
		}
		dn, err := v.LookupByString("data")
		if err != nil {
			return nil, nil, fmt.Errorf("%w: blocks[%d] has no data", ErrMalformed, i)
		}
		var raw []byte
		if c.Type() == CodecDAGCBOR {
			var buf bytes.Buffer
			if err := dagcbor.Encode(dn, &buf); err != nil {
				return nil, nil, fmt.Errorf("%w: blocks[%d]: %v", ErrMalformed, i, err)
			}
			raw = buf.Bytes()
		} else if raw, err = dn.AsBytes(); err != nil {
			return nil, nil, fmt.Errorf("%w: blocks[%d].data must be bytes for codec 0x%x", ErrMalformed, i, c.Type())
		}
		got, err := c.Prefix().Sum(raw)
		if err != nil || !got.Equals(c) {
			return nil, nil, fmt.Errorf("%w: blocks[%d] does not hash to %s", ErrMalformed, i, c)
		}
		blocks = append(blocks, Block{CID: c, Data: raw})
	}
	return roots, blocks, nil
}
