package cbor_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/cbor"
)

// FuzzReadHead feeds arbitrary bytes to ReadHead (seeds: testdata/fuzz/FuzzReadHead).
// Properties: no panic; an error is a *HeadError wrapping ErrMalformed or
// ErrNonCanonical; an accepted head of major type 0-6 is exactly what AppendHead writes
// for its major type and argument (so it was canonical), and one of major type 7 is one
// byte.
func FuzzReadHead(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		major, arg, n, err := cbor.ReadHead(b)
		if err != nil {
			var he *cbor.HeadError
			if !errors.As(err, &he) || (!errors.Is(err, cbor.ErrMalformed) && !errors.Is(err, cbor.ErrNonCanonical)) {
				t.Fatalf("error %v is not a *HeadError wrapping a sentinel", err)
			}
			return
		}
		if n < 1 || n > len(b) || major != b[0]>>5 {
			t.Fatalf("ReadHead(%x) = %d, %d, %d", b, major, arg, n)
		}
		if major == cbor.MajorSimple {
			if n != 1 || arg != uint64(b[0]&0x1f) {
				t.Fatalf("simple head %x = %d, n %d", b[0], arg, n)
			}
			return
		}
		if again := cbor.AppendHead(nil, major, arg); !bytes.Equal(again, b[:n]) {
			t.Fatalf("accepted head %x, AppendHead writes %x", b[:n], again)
		}
	})
}

// FuzzAppendNode decodes arbitrary bytes with go-ipld-prime's dagcbor and checks that
// AppendNode either refuses the node with ErrUnencodable or writes exactly what
// dagcbor.Encode writes for it. Seeds: the nodes of TestAppendNodeMatchesDagcbor.
func FuzzAppendNode(f *testing.F) {
	for _, n := range nodes(f) {
		var b bytes.Buffer
		if err := dagcbor.Encode(n, &b); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagcbor.Decode(nb, bytes.NewReader(in)); err != nil {
			return
		}
		n := nb.Build()
		var want bytes.Buffer
		if err := dagcbor.Encode(n, &want); err != nil {
			return
		}
		got, err := cbor.Encode(n)
		if err != nil {
			if !errors.Is(err, cbor.ErrUnencodable) {
				t.Fatalf("Encode error %v does not wrap ErrUnencodable", err)
			}
			return
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("Encode\n got %x\nwant %x", got, want.Bytes())
		}
		// The node wrapped as Encoded, inside a receipt-like payload, is written as it is.
		en, err := cbor.NewEncoded(n)
		if err != nil {
			t.Fatalf("NewEncoded: %v (Encode accepted the node)", err)
		}
		if !bytes.Equal(en.Raw(), got) {
			t.Fatalf("Raw\n got %x\nwant %x", en.Raw(), got)
		}
		wantIn, errIn := cbor.Encode(inReceipt(t, n))
		gotIn, err := cbor.Encode(inReceipt(t, en))
		if (errIn == nil) != (err == nil) || !bytes.Equal(gotIn, wantIn) && err == nil {
			t.Fatalf("inside a receipt: Encoded %x, %v; node %x, %v", gotIn, err, wantIn, errIn)
		}
	})
}
