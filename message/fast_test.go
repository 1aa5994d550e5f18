package message

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// fuzzSeeds returns the CAR files of testdata and a few messages of every shape the fast
// paths take, with the root blocks of all of them.
func fuzzSeeds(t testing.TB) (cars, roots [][]byte) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.car"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		cars = append(cars, data)
	}
	for _, m := range sampleMessages(rand.New(rand.NewPCG(1, 2)), 8) {
		data, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		cars = append(cars, data)
	}
	for _, data := range cars {
		if r, blocks, err := decodeCARRef(data, MaxRootSize); err == nil && len(r) == 1 {
			for _, b := range blocks {
				if b.CID.Equals(r[0]) {
					roots = append(roots, b.Data)
				}
			}
		}
	}
	return cars, roots
}

// sampleMessages returns n messages: requests, replies and both, with 1 to 40 entries,
// repeated invocations, and blocks hashed with sha2-256 and other functions.
func sampleMessages(rng *rand.Rand, n int) []*Message {
	var out []*Message
	for i := range n {
		m := &Message{}
		k := 1 + rng.IntN(40)
		for j := range k {
			b := token(fmt.Sprintf("m%d-%d-%d", i, j, rng.Int()))
			if j%5 == 4 {
				mh, _ := multihash.Sum(b.Data, multihash.SHA2_512, -1)
				b = Block{CID: cid.NewCidV1(CodecDAGCBOR, mh), Data: b.Data}
			}
			m.Blocks = append(m.Blocks, b)
			switch i % 3 {
			case 0:
				m.Invocations = append(m.Invocations, b.CID)
				if j%7 == 3 {
					m.Invocations = append(m.Invocations, b.CID)
				}
			case 1:
				m.Receipts = append(m.Receipts, Receipt{Invocation: token(fmt.Sprint("inv", i, j)).CID, Receipt: b.CID})
			default:
				if j%2 == 0 {
					m.Invocations = append(m.Invocations, b.CID)
				} else {
					m.Receipts = append(m.Receipts, Receipt{Invocation: token(fmt.Sprint("inv", i, j)).CID, Receipt: b.CID})
				}
			}
		}
		SortReceipts(m.Receipts)
		out = append(out, m)
	}
	return out
}

// TestFastPathsTaken: the messages Encode writes take both fast decoding paths (else the
// fast paths would be dead code the fuzz tests could not tell from a working one).
func TestFastPathsTaken(t *testing.T) {
	for i, m := range sampleMessages(rand.New(rand.NewPCG(3, 4)), 12) {
		data, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		roots, blocks, ok := decodeCARFast(data, MaxRootSize)
		if !ok {
			t.Fatalf("message %d: decodeCARFast refused what Encode wrote", i)
		}
		var root []byte
		for _, b := range blocks {
			if b.CID.Equals(roots[0]) {
				root = b.Data
			}
		}
		var got Message
		if !decodeRootFast(root, &got, Limits{}.withDefaults()) {
			t.Fatalf("message %d: decodeRootFast refused the root Encode wrote", i)
		}
		checkSameDecode(t, data, MaxRootSize)
		checkSameRoot(t, root, Limits{}.withDefaults())
	}
}

// TestEncodeMatchesReference: the hand-written header and root are byte for byte what
// go-ipld-prime writes, for every shape, and the reference handles what they refuse.
func TestEncodeMatchesReference(t *testing.T) {
	for i, m := range sampleMessages(rand.New(rand.NewPCG(5, 6)), 30) {
		fast, ok := appendRoot(nil, m)
		if !ok {
			t.Fatalf("message %d: appendRoot refused", i)
		}
		ref, err := rootRef(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fast, ref.Data) {
			t.Fatalf("message %d: root\n%x\nwant\n%x", i, fast, ref.Data)
		}
		for _, roots := range [][]cid.Cid{nil, m.Invocations, {ref.CID}} {
			got, err := EncodeCAR(roots, m.Blocks)
			if err != nil {
				t.Fatal(err)
			}
			want, err := encodeCARRef(roots, m.Blocks)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("message %d, %d roots: CAR differs from the reference", i, len(roots))
			}
		}
	}
	// Unsorted receipts are written sorted, as dagcbor.Encode sorts map keys.
	a, b := token("a"), token("b")
	unsorted := &Message{Receipts: []Receipt{{Invocation: b.CID, Receipt: a.CID}, {Invocation: a.CID, Receipt: b.CID}}}
	if b.CID.String() < a.CID.String() {
		unsorted.Receipts[0], unsorted.Receipts[1] = unsorted.Receipts[1], unsorted.Receipts[0]
	}
	fast, _ := appendRoot(nil, unsorted)
	ref, err := rootRef(unsorted)
	if err != nil || !bytes.Equal(fast, ref.Data) {
		t.Fatalf("unsorted receipts: %x, want %x (%v)", fast, ref.Data, err)
	}
	// A repeated invocation is the reference's to refuse.
	dup := &Message{Receipts: []Receipt{{Invocation: a.CID, Receipt: a.CID}, {Invocation: a.CID, Receipt: b.CID}}}
	if _, ok := appendRoot(nil, dup); ok {
		t.Fatal("appendRoot wrote receipts that repeat an invocation")
	}
	if _, err := Root(dup); err == nil {
		t.Fatal("Root accepted receipts that repeat an invocation")
	}
}

// checkSameDecode fails t unless decodeCARFast, when it takes data, returns what go-car's
// path returns.
func checkSameDecode(t *testing.T, data []byte, maxBlock int) {
	t.Helper()
	roots, blocks, ok := decodeCARFast(data, maxBlock)
	if !ok {
		return
	}
	wantRoots, wantBlocks, err := decodeCARRef(data, maxBlock)
	if err != nil {
		t.Fatalf("fast path took a CAR the reference refuses: %v", err)
	}
	if !reflect.DeepEqual(roots, wantRoots) {
		t.Fatalf("roots %v, reference %v", roots, wantRoots)
	}
	if len(blocks) != len(wantBlocks) {
		t.Fatalf("%d blocks, reference %d", len(blocks), len(wantBlocks))
	}
	for i := range blocks {
		if !blocks[i].CID.Equals(wantBlocks[i].CID) || !bytes.Equal(blocks[i].Data, wantBlocks[i].Data) {
			t.Fatalf("block %d: %s, reference %s", i, blocks[i].CID, wantBlocks[i].CID)
		}
	}
}

// checkSameRoot fails t unless decodeRootFast, when it takes data, fills a message as
// go-ipld-prime's path does.
func checkSameRoot(t *testing.T, data []byte, lim Limits) {
	t.Helper()
	var got Message
	if !decodeRootFast(data, &got, lim) {
		if got.Invocations != nil || got.Receipts != nil {
			t.Fatal("decodeRootFast refused a root but changed the message")
		}
		return
	}
	var want Message
	if err := decodeRootRef(data, &want, lim); err != nil {
		t.Fatalf("fast path took a root the reference refuses: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("root read as %+v, reference %+v", got, want)
	}
}

// FuzzDecodeCARFast holds decodeCARFast to go-car's path: whatever it takes, the
// reference takes too, with the same roots and blocks (what it does not take, the
// reference reads, so Decode's errors are the reference's).
func FuzzDecodeCARFast(f *testing.F) {
	cars, _ := fuzzSeeds(f)
	for _, c := range cars {
		f.Add(c, uint16(0))
		f.Add(c, uint16(40))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxBlock uint16) {
		mb := int(maxBlock)
		if mb == 0 {
			mb = MaxRootSize
		}
		checkSameDecode(t, data, mb)
		// And Decode as a whole: an error wraps one of the package's.
		if _, err := Decode(data, Limits{}); err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error wraps neither ErrMalformed nor ErrTooLarge: %v", err)
		}
	})
}

// FuzzDecodeRootFast holds decodeRootFast to go-ipld-prime's path, as FuzzDecodeCARFast
// does decodeCARFast.
func FuzzDecodeRootFast(f *testing.F) {
	_, roots := fuzzSeeds(f)
	for _, r := range roots {
		f.Add(r, uint16(0))
		f.Add(r, uint16(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxInvocations uint16) {
		checkSameRoot(t, data, Limits{MaxInvocations: int(maxInvocations)}.withDefaults())
	})
}

// benchMessages returns a request of one invocation with one proof and a reply of 100
// receipts, blocks of realistic sizes (a token of ~400 bytes, a receipt of ~600).
func benchMessages(b *testing.B) (request, reply []byte) {
	block := func(i, size int) Block {
		data := append([]byte{0x59, byte(size >> 8), byte(size)}, bytes.Repeat([]byte{byte(i)}, size)...)
		return NewBlock(CodecDAGCBOR, data)
	}
	inv, proof := block(1, 400), block(2, 350)
	request, err := Encode(&Message{Invocations: []cid.Cid{inv.CID}, Blocks: []Block{inv, proof}})
	if err != nil {
		b.Fatal(err)
	}
	m := &Message{}
	for i := range 100 {
		r := block(i+3, 600)
		m.Receipts = append(m.Receipts, Receipt{Invocation: block(i+200, 10).CID, Receipt: r.CID})
		m.Blocks = append(m.Blocks, r)
	}
	SortReceipts(m.Receipts)
	if reply, err = Encode(m); err != nil {
		b.Fatal(err)
	}
	return request, reply
}

// BenchmarkDecode decodes both messages the hand-written way (fast) and the reference way
// (go-car and go-ipld-prime: what Decode did before the fast paths).
func BenchmarkDecode(b *testing.B) {
	request, reply := benchMessages(b)
	lim := Limits{}.withDefaults()
	ref := func(data []byte) {
		roots, blocks, err := decodeCARRef(data, max(lim.MaxBlockSize, lim.MaxRootSize))
		if err != nil {
			b.Fatal(err)
		}
		for _, bl := range blocks {
			if bl.CID.Equals(roots[0]) {
				var m Message
				if err := decodeRootRef(bl.Data, &m, lim); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{{"request", request}, {"reply100", reply}} {
		b.Run(tc.name+"/fast", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(tc.data, lim); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/reference", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ref(tc.data)
			}
		})
	}
}

// BenchmarkEncode encodes both messages' roots and CARs, hand-written and reference.
func BenchmarkEncode(b *testing.B) {
	request, reply := benchMessages(b)
	for _, tc := range []struct {
		name string
		data []byte
	}{{"request", request}, {"reply100", reply}} {
		m, err := Decode(tc.data, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name+"/fast", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encode(m); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/reference", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				root, err := rootRef(m)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := encodeCARRef([]cid.Cid{root.CID}, append([]Block{root}, m.Blocks...)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
