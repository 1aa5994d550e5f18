package receipts_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func someCID(s string) cid.Cid {
	return cid.NewCidV1(cid.DagCBOR, must(multihash.Sum([]byte(s), multihash.SHA2_256, -1)))
}

func state(status string) datamodel.Node {
	return must(qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "status", qp.String(status))
	}))
}

func TestIssueParseVerify(t *testing.T) {
	svc := must(did.GenerateEd25519())
	origin := someCID("prev")
	cases := []receipts.Receipt{
		{Ran: someCID("a"), Out: receipts.Out{Ok: state("done")}, Path: "/did:key:zX/store/b", TS: 1700000000000, Seq: 7},
		{Ran: someCID("b"), Out: receipts.Out{Ok: state("removed")}, Path: "/p", Origin: &origin, Fx: []cid.Cid{someCID("fx")}, TS: 1, Seq: 1 << 40},
		{Ran: someCID("c"), Out: receipts.Out{Err: &receipts.Failure{Name: "EntryExists", Message: "nope"}}, TS: 2},
	}
	for i, want := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			tok, err := receipts.Issue(svc, want, ucan.SealOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := receipts.Verify(tok, svc.DID())
			if err != nil {
				t.Fatal(err)
			}
			if got.Ran != want.Ran || got.Path != want.Path || got.TS != want.TS || got.Seq != want.Seq || len(got.Fx) != len(want.Fx) {
				t.Fatalf("got %+v want %+v", got, want)
			}
			if (got.Origin == nil) != (want.Origin == nil) || got.Origin != nil && *got.Origin != *want.Origin {
				t.Fatalf("origin %v want %v", got.Origin, want.Origin)
			}
			if want.Out.Err != nil && (got.Out.Err == nil || *got.Out.Err != *want.Out.Err) {
				t.Fatalf("out.error %+v", got.Out.Err)
			}
			if want.Out.Ok != nil && (got.Out.Ok == nil || !datamodel.DeepEqual(got.Out.Ok, want.Out.Ok)) {
				t.Fatalf("out.ok %v", got.Out.Ok)
			}
			// Deterministic: the same content is the same block.
			again := must(receipts.Issue(svc, want, ucan.SealOptions{}))
			if again.CID != tok.CID {
				t.Fatal("receipt issuance is not deterministic")
			}
			// Round trip through bytes.
			dec, r, err := receipts.Decode(tok.Raw)
			if err != nil || r.Seq != want.Seq {
				t.Fatalf("decode: %v", err)
			}
			// The issued token keeps the args node it was sealed from: same keys, in the
			// order decoding gives, same content.
			if a, b := mapKeys(tok.Invocation.Args), mapKeys(dec.Invocation.Args); a != b {
				t.Fatalf("args keys %s, decoded %s", a, b)
			}
			if !datamodel.DeepEqual(tok.Invocation.Meta, dec.Invocation.Meta) || tok.Invocation.Issuer != dec.Invocation.Issuer {
				t.Fatal("issued and decoded tokens differ")
			}
		})
	}
}

func TestIssueRejects(t *testing.T) {
	svc := must(did.GenerateEd25519())
	for name, r := range map[string]receipts.Receipt{
		"no ran":        {Out: receipts.Out{Ok: state("done")}},
		"no out":        {Ran: someCID("a")},
		"both outs":     {Ran: someCID("a"), Out: receipts.Out{Ok: state("done"), Err: &receipts.Failure{Name: "X"}}},
		"seq too large": {Ran: someCID("a"), Out: receipts.Out{Ok: state("done")}, Seq: 1 << 63},
	} {
		if _, err := receipts.Issue(svc, r, ucan.SealOptions{}); !errors.Is(err, receipts.ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	svc := must(did.GenerateEd25519())
	other := must(did.GenerateEd25519())
	good := receipts.Receipt{Ran: someCID("a"), Out: receipts.Out{Ok: state("done")}, TS: 1, Seq: 1}
	tok := must(receipts.Issue(svc, good, ucan.SealOptions{}))
	if _, err := receipts.Verify(tok, other.DID()); !errors.Is(err, receipts.ErrWrongIssuer) {
		t.Errorf("wrong issuer: %v", err)
	}
	// Not a receipt: another command, or iss != sub.
	inv := &ucan.Invocation{Issuer: svc.DID(), Subject: svc.DID(), Audience: svc.DID(), Command: "/dag/put", Args: state("x")}
	if _, err := receipts.Parse(must(inv.Seal(svc, ucan.SealOptions{}))); !errors.Is(err, receipts.ErrNotReceipt) {
		t.Errorf("other command: %v", err)
	}
	inv = &ucan.Invocation{Issuer: svc.DID(), Subject: other.DID(), Audience: svc.DID(), Command: receipts.Command, Args: state("x")}
	if _, err := receipts.Parse(must(inv.Seal(svc, ucan.SealOptions{}))); !errors.Is(err, receipts.ErrNotReceipt) {
		t.Errorf("sub != iss: %v", err)
	}
	// Receipt command with malformed args or meta.
	okOut := must(qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "ok", qp.Node(state("x"))) }))
	for _, tc := range []struct {
		name string
		args datamodel.Node
		want string // in the error message
	}{
		{"no ran", must(qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "out", qp.Node(okOut)) })), "args.ran is missing"},
		{"no out", must(qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "ran", qp.Link(cidlink.Link{Cid: someCID("a")})) })), "args.out is missing"},
		{"out without ok or error", must(qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "out", qp.Node(state("x"))) })), "args.out must have ok or error"},
		{"ran string", must(qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "ran", qp.String("x")) })), "args.ran is not a link"},
	} {
		inv := &ucan.Invocation{Issuer: svc.DID(), Subject: svc.DID(), Audience: svc.DID(), Command: receipts.Command, Args: tc.args}
		_, err := receipts.Parse(must(inv.Seal(svc, ucan.SealOptions{})))
		if !errors.Is(err, receipts.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrMalformed saying %q", tc.name, err, tc.want)
		}
	}
}

// store is a block store for Walk.
type store map[cid.Cid][]byte

func (s store) load(c cid.Cid) ([]byte, error) {
	b, ok := s[c]
	if !ok {
		return nil, errors.New("not found")
	}
	return b, nil
}

func chain(t *testing.T, svc did.Signer, path string, n int, s store) cid.Cid {
	var prev *cid.Cid
	var head cid.Cid
	for i := 0; i < n; i++ {
		r := receipts.Receipt{Ran: someCID(fmt.Sprint(path, i)), Out: receipts.Out{Ok: state("s")}, Path: path, Origin: prev, TS: int64(i), Seq: uint64(i + 1)}
		tok := must(receipts.Issue(svc, r, ucan.SealOptions{}))
		s[tok.CID] = tok.Raw
		head = tok.CID
		prev = &head
	}
	return head
}

func TestWalk(t *testing.T) {
	svc := must(did.GenerateEd25519())
	s := store{}
	head := chain(t, svc, "/a", 5, s)
	var seqs []uint64
	err := receipts.Walk(context.Background(), s.load, head, svc.DID(), func(_ *ucan.Token, r *receipts.Receipt) error {
		seqs = append(seqs, r.Seq)
		return nil
	})
	if err != nil || fmt.Sprint(seqs) != "[5 4 3 2 1]" {
		t.Fatalf("walk: %v %v", seqs, err)
	}
	noop := func(*ucan.Token, *receipts.Receipt) error { return nil }

	// Wrong service.
	if err := receipts.Walk(context.Background(), s.load, head, must(did.GenerateEd25519()).DID(), noop); !errors.Is(err, receipts.ErrWrongIssuer) {
		t.Errorf("wrong service: %v", err)
	}
	// Missing block.
	if err := receipts.Walk(context.Background(), s.load, someCID("missing"), svc.DID(), noop); !errors.Is(err, receipts.ErrBrokenChain) {
		t.Errorf("missing: %v", err)
	}
	// Block that does not hash to its CID.
	other := chain(t, svc, "/b", 1, s)
	bad := store{head: s[other]}
	if err := receipts.Walk(context.Background(), bad.load, head, svc.DID(), noop); !errors.Is(err, receipts.ErrBrokenChain) {
		t.Errorf("substituted block: %v", err)
	}
	// A chain that switches path.
	bHead := chain(t, svc, "/b", 1, s)
	r := receipts.Receipt{Ran: someCID("x"), Out: receipts.Out{Ok: state("s")}, Path: "/a", Origin: &bHead, TS: 1, Seq: 9}
	tok := must(receipts.Issue(svc, r, ucan.SealOptions{}))
	s[tok.CID] = tok.Raw
	if err := receipts.Walk(context.Background(), s.load, tok.CID, svc.DID(), noop); !errors.Is(err, receipts.ErrBrokenChain) {
		t.Errorf("path switch: %v", err)
	}
	// fn's error ends the walk.
	stop := errors.New("stop")
	if err := receipts.Walk(context.Background(), s.load, head, svc.DID(), func(*ucan.Token, *receipts.Receipt) error { return stop }); err != stop {
		t.Errorf("fn error: %v", err)
	}
	// A cancelled context ends it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := receipts.Walk(ctx, s.load, head, svc.DID(), noop); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/*.cbor")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		raw := must(os.ReadFile(f))
		_, _, err := receipts.Decode(raw)
		good := filepath.Base(f)[:4] == "good"
		if good != (err == nil) {
			t.Errorf("%s: err %v", f, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.cbor")
	for _, file := range files {
		f.Add(must(os.ReadFile(file)))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		tok, r, err := receipts.Decode(raw)
		if err != nil {
			return
		}
		if tok == nil || r == nil || !r.Ran.Defined() || (r.Out.Ok == nil) == (r.Out.Err == nil) {
			t.Fatalf("decoded a receipt without ran or with a bad out: %+v", r)
		}
	})
}

// mapKeys lists a map's keys in iteration order.
func mapKeys(n datamodel.Node) string {
	var keys []string
	for it := n.MapIterator(); !it.Done(); {
		k, _, err := it.Next()
		if err != nil {
			return err.Error()
		}
		ks, _ := k.AsString()
		keys = append(keys, ks)
	}
	return strings.Join(keys, ",")
}
