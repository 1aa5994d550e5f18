package cbor_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/cbor"
)

// inReceipt places v where an entry's state sits in a receipt payload (args.out.ok), with
// siblings before and after it in canonical order, as dag places an Encoded state.
func inReceipt(t testing.TB, v datamodel.Node) datamodel.Node {
	t.Helper()
	return build(t, qp.Map(-1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "args", qp.Map(-1, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "out", qp.Map(1, func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "ok", qp.Node(v)) }))
			qp.MapEntry(ma, "ran", qp.String("r"))
			qp.MapEntry(ma, "fx", qp.List(-1, func(la datamodel.ListAssembler) { qp.ListEntry(la, qp.Node(v)) }))
		}))
		qp.MapEntry(ma, "nonce", qp.Bytes(nil))
	}))
}

// TestEncodedMatchesDagcbor checks that an Encoded node, alone and inside other nodes, is
// written byte for byte as go-ipld-prime's dagcbor.Encode writes the node it wraps, that
// Raw is Encode's output, and that it answers the datamodel.Node methods as that node.
func TestEncodedMatchesDagcbor(t *testing.T) {
	for name, n := range nodes(t) {
		t.Run(name, func(t *testing.T) {
			en, err := cbor.NewEncoded(n)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := cbor.Encode(n)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(en.Raw(), plain) {
				t.Fatalf("Raw\n got %x\nwant %x", en.Raw(), plain)
			}
			// DeepEqual reads integers with AsInt, which integers above MaxInt64 refuse.
			if _, big := n.(datamodel.UintNode); !big && !datamodel.DeepEqual(en, n) || en.Kind() != n.Kind() || en.Length() != n.Length() {
				t.Fatal("Encoded does not answer as its node")
			}
			if again, err := cbor.NewEncoded(en); err != nil || again != en {
				t.Fatalf("NewEncoded of an Encoded = %p, %v; want it unchanged", again, err)
			}
			var want bytes.Buffer
			if err := dagcbor.Encode(inReceipt(t, n), &want); err != nil {
				t.Fatal(err)
			}
			got, err := cbor.Encode(inReceipt(t, en))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("inside a receipt\n got %x\nwant %x", got, want.Bytes())
			}
		})
	}
}

// randomNode returns a random node of at most depth levels: every kind, maps with keys
// that sort in every way (lengths, bytes, UTF-8), and Encoded nodes among them.
func randomNode(t testing.TB, r *rand.Rand, depth int) datamodel.Node {
	t.Helper()
	kinds := 9
	if depth <= 0 {
		kinds = 7
	}
	var n datamodel.Node
	switch r.IntN(kinds) {
	case 0:
		n = datamodel.Null
	case 1:
		n = basicnode.NewBool(r.IntN(2) == 0)
	case 2:
		n = basicnode.NewInt(r.Int64N(1<<40) - 1<<39>>uint(r.IntN(40)))
	case 3:
		n = basicnode.NewFloat(r.NormFloat64() * 1e6)
	case 4:
		n = basicnode.NewString(randomKey(r))
	case 5:
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		n = basicnode.NewBytes(b)
	case 6:
		n = nodes(t)["link v1"]
	case 7:
		n = build(t, qp.List(-1, func(la datamodel.ListAssembler) {
			for range r.IntN(5) {
				qp.ListEntry(la, qp.Node(randomNode(t, r, depth-1)))
			}
		}))
	case 8:
		seen := map[string]bool{}
		n = build(t, qp.Map(-1, func(ma datamodel.MapAssembler) {
			for range r.IntN(6) {
				k := randomKey(r)
				if seen[k] {
					continue
				}
				seen[k] = true
				qp.MapEntry(ma, k, qp.Node(randomNode(t, r, depth-1)))
			}
		}))
	}
	if r.IntN(3) == 0 {
		en, err := cbor.NewEncoded(n)
		if err != nil {
			t.Fatal(err)
		}
		return en
	}
	return n
}

func randomKey(r *rand.Rand) string {
	const letters = "abAB0é_/"
	rs := []rune(letters)
	s := make([]rune, r.IntN(6))
	for i := range s {
		s[i] = rs[r.IntN(len(rs))]
	}
	return string(s)
}

// TestEncodedRandom encodes random trees holding Encoded nodes at random places and
// checks the bytes against dagcbor.Encode of the same tree (which walks the wrapped
// nodes through their methods).
func TestEncodedRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		n := randomNode(t, r, 4)
		var want bytes.Buffer
		if err := dagcbor.Encode(n, &want); err != nil {
			t.Fatal(err)
		}
		got, err := cbor.Encode(n)
		if err != nil {
			t.Fatalf("tree %d: %v", i, err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("tree %d\n got %x\nwant %x", i, got, want.Bytes())
		}
	}
}

// TestEncodedDepth checks that an Encoded node is refused exactly where the node it wraps
// would be: when its deepest node would lie at MaxDepth or below.
func TestEncodedDepth(t *testing.T) {
	nest := func(inner datamodel.Node, levels int) datamodel.Node {
		for range levels {
			in := inner
			inner = build(t, qp.List(1, func(la datamodel.ListAssembler) { qp.ListEntry(la, qp.Node(in)) }))
		}
		return inner
	}
	for _, k := range []int{0, 1, 5, cbor.MaxDepth - 2, cbor.MaxDepth - 1} {
		n := nest(basicnode.NewInt(1), k) // its deepest node is k levels below it
		en, err := cbor.NewEncoded(n)
		if err != nil {
			t.Fatalf("depth %d: %v", k, err)
		}
		for _, at := range []int{cbor.MaxDepth - k - 2, cbor.MaxDepth - k - 1, cbor.MaxDepth - k} {
			if at < 0 {
				continue
			}
			_, plainErr := cbor.Encode(nest(n, at))
			got, err := cbor.Encode(nest(en, at))
			if (plainErr == nil) != (err == nil) {
				t.Fatalf("%d levels at depth %d: plain %v, Encoded %v", k, at, plainErr, err)
			}
			if err != nil && !errors.Is(err, cbor.ErrUnencodable) {
				t.Fatalf("%d levels at depth %d: %v does not wrap ErrUnencodable", k, at, err)
			}
			if plainErr == nil {
				want, _ := cbor.Encode(nest(n, at))
				if !bytes.Equal(got, want) {
					t.Fatalf("%d levels at depth %d: bytes differ", k, at)
				}
			}
		}
	}
	// The refusals NewEncoded makes are AppendNode's.
	if _, err := cbor.NewEncoded(nest(basicnode.NewInt(1), cbor.MaxDepth)); !errors.Is(err, cbor.ErrUnencodable) {
		t.Fatalf("NewEncoded of a node too deep: %v", err)
	}
}
