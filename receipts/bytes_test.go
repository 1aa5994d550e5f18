package receipts_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// reference seals r as a ucan invocation whose args and meta are basicnode maps built
// field by field and decoded back from the envelope (no Direct): what Issue wrote before
// it built its own map nodes.
func reference(t testing.TB, s did.Signer, r receipts.Receipt, opts ucan.SealOptions) *ucan.Token {
	t.Helper()
	args := must(qp.BuildMap(basicnode.Prototype.Map, -1, func(ma datamodel.MapAssembler) {
		if len(r.Fx) > 0 {
			qp.MapEntry(ma, "fx", qp.List(-1, func(la datamodel.ListAssembler) {
				for _, c := range r.Fx {
					qp.ListEntry(la, qp.Link(cidlink.Link{Cid: c}))
				}
			}))
		}
		qp.MapEntry(ma, "out", qp.Map(1, func(ma datamodel.MapAssembler) {
			if r.Out.Ok != nil {
				qp.MapEntry(ma, "ok", qp.Node(r.Out.Ok))
				return
			}
			qp.MapEntry(ma, "error", qp.Map(2, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "name", qp.String(r.Out.Err.Name))
				qp.MapEntry(ma, "message", qp.String(r.Out.Err.Message))
			}))
		}))
		qp.MapEntry(ma, "ran", qp.Link(cidlink.Link{Cid: r.Ran}))
		if r.Path != "" {
			qp.MapEntry(ma, "path", qp.String(r.Path))
		}
		if r.Origin != nil {
			qp.MapEntry(ma, "origin", qp.Link(cidlink.Link{Cid: *r.Origin}))
		}
	}))
	meta := must(qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "ts", qp.Int(r.TS))
		qp.MapEntry(ma, "seq", qp.Int(int64(r.Seq)))
	}))
	inv := &ucan.Invocation{Issuer: s.DID(), Subject: s.DID(), Audience: s.DID(), Command: receipts.Command, Args: args, Meta: meta}
	return must(inv.Seal(s, opts))
}

// checkSame issues r and checks the token against reference: the same bytes and CID, and
// args and meta that read the same (iteration order included) as the decoded ones.
func checkSame(t *testing.T, s did.Signer, r receipts.Receipt, opts ucan.SealOptions) {
	t.Helper()
	got, err := receipts.Issue(s, r, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := reference(t, s, r, opts)
	if !bytes.Equal(got.Raw, want.Raw) || !got.CID.Equals(want.CID) {
		t.Fatalf("Issue\n got %x\nwant %x", got.Raw, want.Raw)
	}
	// The token's nodes read as the decoded ones, but for out.ok: the caller's node, kept
	// as given (a map in the order it was built).
	pairs := [][2]datamodel.Node{{got.Invocation.Args, want.Invocation.Args}, {got.Invocation.Meta, want.Invocation.Meta}}
	for it := want.Invocation.Args.MapIterator(); !it.Done(); {
		k, w, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		g := must(got.Invocation.Args.LookupByNode(k))
		if ks, _ := k.AsString(); ks == "out" && r.Out.Ok != nil {
			if ok := must(g.LookupByString("ok")); ok != r.Out.Ok || g.Length() != 1 {
				t.Fatalf("out.ok is not the receipt's state node")
			}
			continue
		}
		pairs = append(pairs, [2]datamodel.Node{g, w})
	}
	for i, n := range pairs {
		if (i > 0 || r.Out.Ok == nil) && !datamodel.DeepEqual(n[0], n[1]) || n[0].Kind() == datamodel.Kind_Map && mapKeys(n[0]) != mapKeys(n[1]) {
			t.Fatalf("token node %v (keys %s), decoded %v (keys %s)", n[0], mapKeys(n[0]), n[1], mapKeys(n[1]))
		}
	}
	back, err := receipts.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if back.Path != r.Path || back.TS != r.TS || back.Seq != r.Seq || !back.Ran.Equals(r.Ran) || len(back.Fx) != len(r.Fx) || (back.Origin == nil) != (r.Origin == nil) {
		t.Fatalf("Parse of the issued token = %+v, want %+v", back, r)
	}
}

// TestIssueBytes holds Issue's receipts byte for byte to the encoding of basicnode-built
// args and meta over a table of shapes and 500 random receipts, and to the testdata
// receipts written before Issue built its own nodes.
func TestIssueBytes(t *testing.T) {
	svc := must(did.Ed25519FromSeed(make([]byte, 32)))
	origin := someCID("prev")
	big := make([]cid.Cid, receipts.MaxFx)
	for i := range big {
		big[i] = someCID(fmt.Sprint("fx", i))
	}
	cases := map[string]receipts.Receipt{
		"ok":            {Ran: someCID("a"), Out: receipts.Out{Ok: state("done")}, Path: "/did:key:zX/store/b", TS: 1700000000000, Seq: 7},
		"all fields":    {Ran: someCID("b"), Out: receipts.Out{Ok: state("removed")}, Path: "/p", Origin: &origin, Fx: []cid.Cid{someCID("fx"), someCID("fy")}, TS: 1, Seq: 1 << 40},
		"error":         {Ran: someCID("c"), Out: receipts.Out{Err: &receipts.Failure{Name: "EntryExists", Message: "nope"}}, TS: 2},
		"error, path":   {Ran: someCID("c"), Out: receipts.Out{Err: &receipts.Failure{Name: "N", Message: ""}}, Path: "/did:key:zX/upload/ほげ", Origin: &origin, TS: -1, Seq: math.MaxInt64},
		"max fx":        {Ran: someCID("d"), Out: receipts.Out{Ok: state("x")}, Fx: big, TS: math.MinInt64},
		"zero time":     {Ran: someCID("e"), Out: receipts.Out{Ok: state("")}},
		"non-map state": {Ran: someCID("f"), Out: receipts.Out{Ok: basicnode.NewString("s")}, Path: "/q"},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			checkSame(t, svc, r, ucan.SealOptions{})
			checkSame(t, svc, r, ucan.SealOptions{RC1: true})
		})
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		r := receipts.Receipt{Ran: someCID(fmt.Sprint("ran", i)), TS: rnd.Int64() >> rnd.IntN(64), Seq: uint64(rnd.Int64() >> rnd.IntN(64))}
		if rnd.IntN(2) == 0 {
			r.Out.Ok = must(qp.BuildMap(basicnode.Prototype.Map, -1, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "status", qp.String(fmt.Sprint("s", rnd.IntN(100))))
				for j := range rnd.IntN(4) {
					qp.MapEntry(ma, fmt.Sprint("k", j), qp.Int(rnd.Int64()))
				}
			}))
		} else {
			r.Out.Err = &receipts.Failure{Name: fmt.Sprint("E", rnd.IntN(10)), Message: fmt.Sprint(rnd.Uint64())}
		}
		if rnd.IntN(2) == 0 {
			r.Path = fmt.Sprint("/did:key:z", rnd.Uint64(), "/c/", rnd.Uint64())
		}
		if rnd.IntN(2) == 0 {
			o := someCID(fmt.Sprint("o", i))
			r.Origin = &o
		}
		for j := range rnd.IntN(4) {
			r.Fx = append(r.Fx, someCID(fmt.Sprint("fx", i, j)))
		}
		checkSame(t, svc, r, ucan.SealOptions{RC1: rnd.IntN(2) == 0})
	}
	// The receipts TestGenerateTestdata wrote before.
	for file, r := range map[string]struct {
		r    receipts.Receipt
		opts ucan.SealOptions
	}{
		"good-ok.cbor":        {receipts.Receipt{Ran: someCID("a"), Out: receipts.Out{Ok: state("done")}, Path: "/did:key:z/store/x", Origin: &origin, Fx: []cid.Cid{someCID("fx")}, TS: 1700000000000, Seq: 3}, ucan.SealOptions{}},
		"good-error-rc1.cbor": {receipts.Receipt{Ran: someCID("b"), Out: receipts.Out{Err: &receipts.Failure{Name: "NotFound", Message: "no entry"}}, TS: 1, Seq: 0}, ucan.SealOptions{RC1: true}},
	} {
		tok := must(receipts.Issue(svc, r.r, r.opts))
		if want := must(os.ReadFile("testdata/" + file)); !bytes.Equal(tok.Raw, want) {
			t.Errorf("%s\n got %x\nwant %x", file, tok.Raw, want)
		}
	}
}
