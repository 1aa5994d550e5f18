package message

import (
	"bytes"
	"math"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

func TestEncodeDAGJSONFloats(t *testing.T) {
	link := cidlink.Link{Cid: token("a").CID}
	tests := []struct {
		name string
		node datamodel.Node
		want string
	}{
		{"whole float", basicnode.NewFloat(10), `10.0`},
		{"zero", basicnode.NewFloat(0), `0.0`},
		{"negative zero", basicnode.NewFloat(math.Copysign(0, -1)), `-0.0`},
		{"negative whole", basicnode.NewFloat(-3), `-3.0`},
		{"fraction", basicnode.NewFloat(1.5), `1.5`},
		{"small", basicnode.NewFloat(1e-7), `1e-7`},
		{"below exponent form", basicnode.NewFloat(999999999999999872), `999999999999999900.0`},
		{"large whole", basicnode.NewFloat(1e20), `1e+20`},
		{"large whole negative", basicnode.NewFloat(-123e18), `-1.23e+20`},
		{"exponent form", basicnode.NewFloat(1e21), `1e+21`},
		{"int stays int", basicnode.NewInt(10), `10`},
		{"nested", mustBuild(t, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "x", qp.Float(10))
			qp.MapEntry(ma, "b", qp.Bytes([]byte{1, 2}))
			qp.MapEntry(ma, "l", qp.List(-1, func(la datamodel.ListAssembler) {
				qp.ListEntry(la, qp.Float(2))
				qp.ListEntry(la, qp.Int(2))
				qp.ListEntry(la, qp.Link(link))
				qp.ListEntry(la, qp.Null())
			}))
		}), `{"b":{"/":{"bytes":"AQI"}},"l":[2.0,2,{"/":"` + link.String() + `"},null],"x":10.0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DAGJSON(tt.node)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			// Decoding the output gives back the same data: same kinds, same DAG-CBOR.
			nb := basicnode.Prototype.Any.NewBuilder()
			if err := dagjson.Decode(nb, bytes.NewReader(got)); err != nil {
				t.Fatalf("decoding %s: %v", got, err)
			}
			if a, b := cborOf(t, tt.node), cborOf(t, nb.Build()); !bytes.Equal(a, b) {
				t.Fatalf("round trip through %s changed the data: %x → %x", got, a, b)
			}
		})
	}
	// Without whole floats the output is dagjson.Encode's, byte for byte.
	n := mustBuild(t, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "z", qp.String("a\"\n\u2028"))
		qp.MapEntry(ma, "a", qp.Float(0.25))
		qp.MapEntry(ma, "k", qp.Link(link))
	})
	var want bytes.Buffer
	if err := dagjson.Encode(n, &want); err != nil {
		t.Fatal(err)
	}
	if got, err := DAGJSON(n); err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("got %s (%v), want dagjson's %s", got, err, want.Bytes())
	}
	if _, err := DAGJSON(basicnode.NewFloat(math.Inf(1))); err == nil {
		t.Fatal("infinity encoded")
	}
}

// A reply holding a whole float survives EncodeJSON/DecodeJSON: with dagjson.Encode the
// 10.0 came back as 10 and the block no longer hashed to its CID.
func TestJSONRoundTripWholeFloat(t *testing.T) {
	data := cborOf(t, mustBuild(t, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "state", qp.Map(-1, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "x", qp.Float(10))
		}))
	}))
	b := NewBlock(CodecDAGCBOR, data)
	doc, err := EncodeJSON([]cid.Cid{b.CID}, []Block{b})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte(`"x":10.0`)) {
		t.Fatalf("document %s", doc)
	}
	_, blocks, err := DecodeJSON(doc)
	if err != nil {
		t.Fatalf("decoding %s: %v", doc, err)
	}
	if len(blocks) != 1 || !bytes.Equal(blocks[0].Data, data) {
		t.Fatalf("blocks %v", blocks)
	}
	js, err := BlockJSON(b)
	if err != nil || string(js) != `{"state":{"x":10.0}}` {
		t.Fatalf("BlockJSON = %s, %v", js, err)
	}
}

func mustBuild(t *testing.T, fn func(datamodel.MapAssembler)) datamodel.Node {
	t.Helper()
	n, err := qp.BuildMap(basicnode.Prototype.Any, -1, fn)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func cborOf(t *testing.T, n datamodel.Node) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := dagcbor.Encode(n, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
