package dag

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/cbor"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
)

// TestStateBytesAreReceiptBytes puts values of every kind through the engine and checks
// that an entry's stored state bytes are exactly the out.ok bytes inside its head receipt
// and the state bytes spliced into a select page, that they are what go-ipld-prime's
// dagcbor.Encode writes for the state, and that the value CID is the CID of dagcbor's
// encoding of the value (so entries written before the shared encoder keep their CIDs).
func TestStateBytesAreReceiptBytes(t *testing.T) {
	sch, err := schema.Load([]byte("type Space struct {\n  notes {String:Note}\n}\n\ntype Note struct {\n  title String\n  extra optional Any\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	svc := fixtureSigner(t, 1)
	e, err := Open(context.Background(), Options{KV: mem.New(), Signer: svc, Schema: sch})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	space := fixtureSigner(t, 2)

	mh, err := multihash.Sum([]byte("x"), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	link := cidlink.Link{Cid: cid.NewCidV1(cid.Raw, mh)}
	v0 := cidlink.Link{Cid: cid.NewCidV0(mh)}
	extras := map[string]func(datamodel.NodeAssembler){
		"null":  qp.Null(),
		"bools": qp.List(-1, func(la datamodel.ListAssembler) { qp.ListEntry(la, qp.Bool(true)); qp.ListEntry(la, qp.Bool(false)) }),
		"floats": qp.List(-1, func(la datamodel.ListAssembler) {
			qp.ListEntry(la, qp.Float(0.1))
			qp.ListEntry(la, qp.Float(-2.5e-300))
			qp.ListEntry(la, qp.Float(1))
		}),
		"ints": qp.List(-1, func(la datamodel.ListAssembler) {
			qp.ListEntry(la, qp.Int(-1))
			qp.ListEntry(la, qp.Int(-25))
			qp.ListEntry(la, qp.Int(math.MinInt64))
			qp.ListEntry(la, qp.Int(1<<40))
		}),
		"bytes":   qp.Bytes(bytes.Repeat([]byte{0xab}, 300)),
		"links":   qp.List(-1, func(la datamodel.ListAssembler) { qp.ListEntry(la, qp.Link(link)); qp.ListEntry(la, qp.Link(v0)) }),
		"unicode": qp.String("ほげ"),
		"big list": qp.List(-1, func(la datamodel.ListAssembler) {
			for i := range 40 {
				qp.ListEntry(la, qp.Int(int64(i*i)))
			}
		}),
		"nested maps": qp.Map(-1, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "zzzz", qp.Int(4))
			qp.MapEntry(ma, "b", qp.Map(-1, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "long key", qp.Float(3.25))
				qp.MapEntry(ma, "k", qp.Null())
				qp.MapEntry(ma, "kk", qp.Bytes([]byte{1}))
				qp.MapEntry(ma, "", qp.Link(link))
			}))
			qp.MapEntry(ma, "aa", qp.Bool(true))
			qp.MapEntry(ma, "a", qp.Int(-100000))
			qp.MapEntry(ma, "B", qp.String("upper"))
		}),
	}
	for name, extra := range extras {
		t.Run(name, func(t *testing.T) {
			value, err := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "title", qp.String(name))
				qp.MapEntry(ma, "extra", extra)
			})
			if err != nil {
				t.Fatal(err)
			}
			p := Path{Subject: space.DID(), Collection: "notes", Key: name}
			args, err := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "path", qp.String(p.Rel()))
				qp.MapEntry(ma, "value", qp.Node(value))
			})
			if err != nil {
				t.Fatal(err)
			}
			inv, err := (&ucan.Invocation{Subject: space.DID(), Command: "/dag/put", Args: args, Nonce: ucan.NewNonce()}).Seal(space, ucan.SealOptions{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.Put(ctx, inv, p, value)
			if err != nil || res.Err != nil {
				t.Fatalf("put: %v, %v", err, res.Err)
			}
			ent, err := e.Entry(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			if err := dagcbor.Encode(ent.State, &want); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ent.stateRaw, want.Bytes()) {
				t.Fatalf("stored state\n got %x\nwant %x (dagcbor.Encode)", ent.stateRaw, want.Bytes())
			}
			want.Reset()
			if err := dagcbor.Encode(value, &want); err != nil {
				t.Fatal(err)
			}
			if c := cborCIDOf(t, want.Bytes()); !ent.Value.Equals(c) {
				t.Fatalf("value CID %s, want %s (of dagcbor.Encode)", ent.Value, c)
			}

			// out.ok inside the head receipt: the key "ok" followed by the state bytes,
			// exactly once, and the parsed out.ok re-encodes to them.
			tok, err := e.Receipt(ctx, ent.Head)
			if err != nil {
				t.Fatal(err)
			}
			okState := append(cbor.AppendText(nil, "ok"), ent.stateRaw...)
			if n := bytes.Count(tok.Raw, okState); n != 1 {
				t.Fatalf("the head receipt holds \"ok\" + the stored state bytes %d times, want 1\nreceipt %x\nstate %x", n, tok.Raw, ent.stateRaw)
			}
			r, err := receipts.Parse(tok)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := cbor.Encode(r.Out.Ok); err != nil || !bytes.Equal(got, ent.stateRaw) {
				t.Fatalf("out.ok re-encodes to %x, %v; want the stored state %x", got, err, ent.stateRaw)
			}
			// The engine splices the state's bytes into the receipt (cbor.Encoded): the
			// receipt is byte for byte what receipts.Issue writes walking the state.
			r.Out.Ok = ent.State
			again, err := receipts.Issue(svc, *r, e.seal)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Raw, tok.Raw) || !again.CID.Equals(tok.CID) {
				t.Fatalf("head receipt\n got %x\nwant %x (receipts.Issue of the state node)", tok.Raw, again.Raw)
			}

			// The page block splices the same bytes.
			page := encodePage(&Page{Entries: []*Entry{ent}})
			if !bytes.Contains(page, append(cbor.AppendText(nil, "state"), ent.stateRaw...)) {
				t.Fatalf("page block %x does not hold the stored state", page)
			}
		})
	}
}

func cborCIDOf(t testing.TB, b []byte) cid.Cid {
	t.Helper()
	c, err := cborCID(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEncodePageMatchesDagcbor checks the hand-assembled page block against dagcbor.Encode
// of the same page built as a node.
func TestEncodePageMatchesDagcbor(t *testing.T) {
	mh, err := multihash.Sum([]byte("head"), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	head := cid.NewCidV1(cid.DagCBOR, mh)
	var entries []*Entry
	for _, key := range []string{"a", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", string(bytes.Repeat([]byte{'k'}, 300))} {
		state, err := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "status", qp.String("done"))
			qp.MapEntry(ma, "value", qp.Map(1, func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "title", qp.String(key)) }))
		})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := encodeNode(state)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, &Entry{Path: Path{Key: key}, Head: head, State: state, stateRaw: raw})
	}
	for n := range len(entries) + 1 {
		page := &Page{Entries: entries[:n]}
		node, err := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "entries", qp.List(int64(n), func(la datamodel.ListAssembler) {
				for _, e := range page.Entries {
					qp.ListEntry(la, qp.Map(3, func(ma datamodel.MapAssembler) {
						qp.MapEntry(ma, "key", qp.String(e.Path.Key))
						qp.MapEntry(ma, "head", qp.Link(cidlink.Link{Cid: e.Head}))
						qp.MapEntry(ma, "state", qp.Node(e.State))
					}))
				}
			}))
		})
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := dagcbor.Encode(node, &want); err != nil {
			t.Fatal(err)
		}
		if got := encodePage(page); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("%d entries:\n got %x\nwant %x", n, got, want.Bytes())
		}
	}
}
