package logs

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/message"
)

// randomString returns strings with what JSON escapes: quotes, backslashes, control bytes
// (\b and \f among them), U+2028, multi-byte and invalid UTF-8.
func randomString(rng *rand.Rand) string {
	pieces := []string{"a", "key", `"`, `\`, "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f", "\x7f",
		"<>&", "é", "世界", "\u2028", "\u2029", "\xff", "\xc3", "/", "status", "bytes"}
	var s string
	for range rng.IntN(5) {
		s += pieces[rng.IntN(len(pieces))]
	}
	return s
}

func randomNode(t testing.TB, rng *rand.Rand, depth int, floats bool) datamodel.Node {
	t.Helper()
	k := rng.IntN(9)
	if depth > 3 && k >= 7 {
		k = rng.IntN(7)
	}
	switch k {
	case 0:
		return basicnode.NewBool(rng.IntN(2) == 0)
	case 1:
		return basicnode.NewInt([]int64{0, -1, 1, math.MaxInt64, math.MinInt64, rng.Int64()}[rng.IntN(6)])
	case 2:
		if floats {
			return basicnode.NewFloat([]float64{0, 10, -2.5, 1e20, 1e18, 123456.789, math.SmallestNonzeroFloat64}[rng.IntN(7)])
		}
		return basicnode.NewString(randomString(rng))
	case 3:
		return basicnode.NewString(randomString(rng))
	case 4:
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return basicnode.NewBytes(b)
	case 5:
		mh, err := multihash.Sum([]byte(randomString(rng)), multihash.SHA2_256, -1)
		if err != nil {
			t.Fatal(err)
		}
		c := cid.NewCidV1([]uint64{cid.Raw, cid.DagCBOR, 0x0202}[rng.IntN(3)], mh)
		if rng.IntN(4) == 0 {
			c = cid.NewCidV0(mh)
		}
		return basicnode.NewLink(cidlink.Link{Cid: c})
	case 6:
		return datamodel.Null
	case 7:
		n, err := qp.BuildList(basicnode.Prototype.List, -1, func(la datamodel.ListAssembler) {
			for range rng.IntN(4) {
				qp.ListEntry(la, qp.Node(randomNode(t, rng, depth+1, floats)))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	default:
		seen := map[string]bool{}
		n, err := qp.BuildMap(basicnode.Prototype.Map, -1, func(ma datamodel.MapAssembler) {
			for range rng.IntN(maxSortedOnStack + 4) {
				key := randomString(rng)
				if seen[key] {
					continue
				}
				seen[key] = true
				qp.MapEntry(ma, key, qp.Node(randomNode(t, rng, depth+1, floats)))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// TestAppendDAGJSONMatches: the lines' DAG-JSON is byte for byte what
// message.EncodeDAGJSON writes, for nodes of every kind, strings that need escaping,
// maps of more entries than are sorted on the stack, and floats (left to it).
func TestAppendDAGJSONMatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 3000 {
		n := randomNode(t, rng, 0, i%3 == 0)
		want, err := message.DAGJSON(n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeDAGJSON([]byte("prefix"), n)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("node %d:\n got %s\nwant prefix%s", i, got, want)
		}
	}
}
