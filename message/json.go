package message

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	refmtjson "github.com/polydawn/refmt/json"
	"github.com/polydawn/refmt/tok"
)

// EncodeDAGJSON writes n to w as DAG-JSON exactly as go-ipld-prime's dagjson.Encode does
// (links as {"/": cid}, bytes as {"/": {"bytes": …}}, map keys sorted), except for Floats
// with no fraction. dagjson.Encode writes 10.0 as 10, which decodes as an Int, so the data
// no longer re-encodes to the same DAG-CBOR bytes (nor CID) and a value read back no
// longer matches a schema's Float; and it writes 1e20 as 100000000000000000000, which
// does not decode at all. EncodeDAGJSON writes them with a fraction (10.0) or, from
// 1e18 up, in exponent form (1e+20), which dagjson.Decode reads back as the same Float.
func EncodeDAGJSON(n datamodel.Node, w io.Writer) error {
	var buf bytes.Buffer
	sink := &floatSink{enc: refmtjson.NewEncoder(&buf, refmtjson.EncodeOptions{}), w: &buf}
	if err := dagjson.Marshal(n, sink, dagjson.EncodeOptions{EncodeLinks: true, EncodeBytes: true, MapSortMode: codec.MapSortMode_Lexical}); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// DAGJSON returns n as DAG-JSON, written by EncodeDAGJSON.
func DAGJSON(n datamodel.Node) ([]byte, error) {
	var buf bytes.Buffer
	if err := EncodeDAGJSON(n, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// floatSink passes tokens to the JSON encoder and fixes whole floats right after the
// encoder wrote them (nothing else is written between a value and the next token).
type floatSink struct {
	enc *refmtjson.Encoder
	w   *bytes.Buffer
}

// expFrom is the magnitude from which whole floats are written in exponent form: their
// digits would overflow the int64 dagjson.Decode tries first, and fail to decode.
const expFrom = 1e18

func (s *floatSink) Step(t *tok.Token) (bool, error) {
	done, err := s.enc.Step(t)
	if err != nil || t.Type != tok.TFloat64 {
		return done, err
	}
	f := t.Float64
	if math.IsInf(f, 0) || math.IsNaN(f) || f != math.Trunc(f) || math.Abs(f) >= 1e21 {
		return done, nil // written with a fraction or an exponent already
	}
	if math.Abs(f) < expFrom {
		s.w.WriteString(".0")
		return done, nil
	}
	digits := strconv.FormatFloat(f, 'f', -1, 64)
	if !bytes.HasSuffix(s.w.Bytes(), []byte(digits)) {
		return done, fmt.Errorf("dag-json: float %v was not written as %s", f, digits)
	}
	s.w.Truncate(s.w.Len() - len(digits))
	s.w.WriteString(strconv.FormatFloat(f, 'e', -1, 64))
	return done, nil
}

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

// BlockJSON renders one block as DAG-JSON (see BlockNode), with EncodeDAGJSON.
func BlockJSON(b Block) ([]byte, error) {
	n, err := BlockNode(b)
	if err != nil {
		return nil, err
	}
	out, err := DAGJSON(n)
	if err != nil {
		return nil, fmt.Errorf("encoding block %s as DAG-JSON: %w", b.CID, err)
	}
	return out, nil
}

// EncodeJSON renders roots and blocks as the DAG-JSON document
//
//	{"blocks": [{"cid": {"/": "<cid>"}, "data": <block>}, …], "roots": [{"/": "<cid>"}, …]}
//
// keeping the order of blocks, with EncodeDAGJSON (so whole floats keep their ".0" and
// DecodeJSON gets the same blocks back).
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
	out, err := DAGJSON(nb.Build())
	if err != nil {
		return nil, fmt.Errorf("encoding DAG-JSON: %w", err)
	}
	return out, nil
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
