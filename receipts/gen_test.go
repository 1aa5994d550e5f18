package receipts_test

import (
	"os"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// TestGenerateTestdata writes testdata/*.cbor when W3DAG_GEN_TESTDATA=1.
func TestGenerateTestdata(t *testing.T) {
	if os.Getenv("W3DAG_GEN_TESTDATA") != "1" {
		t.Skip("set W3DAG_GEN_TESTDATA=1 to regenerate testdata")
	}
	svc := must(did.Ed25519FromSeed(make([]byte, 32)))
	origin := someCID("prev")
	write := func(name string, raw []byte) {
		if err := os.WriteFile("testdata/"+name, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ok := must(receipts.Issue(svc, receipts.Receipt{Ran: someCID("a"), Out: receipts.Out{Ok: state("done")}, Path: "/did:key:z/store/x", Origin: &origin, Fx: []cid.Cid{someCID("fx")}, TS: 1700000000000, Seq: 3}, ucan.SealOptions{}))
	write("good-ok.cbor", ok.Raw)
	er := must(receipts.Issue(svc, receipts.Receipt{Ran: someCID("b"), Out: receipts.Out{Err: &receipts.Failure{Name: "NotFound", Message: "no entry"}}, TS: 1, Seq: 0}, ucan.SealOptions{RC1: true}))
	write("good-error-rc1.cbor", er.Raw)
	seal := func(cmd string, args, meta datamodel.Node) []byte {
		inv := &ucan.Invocation{Issuer: svc.DID(), Subject: svc.DID(), Audience: svc.DID(), Command: cmd, Args: args, Meta: meta}
		return must(inv.Seal(svc, ucan.SealOptions{})).Raw
	}
	meta := must(qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "ts", qp.Int(1))
		qp.MapEntry(ma, "seq", qp.Int(1))
	}))
	write("bad-command.cbor", seal("/dag/put", state("x"), meta))
	write("bad-no-meta.cbor", seal(receipts.Command, must(ok.Invocation.Args, nil), nil))
	write("bad-two-outs.cbor", seal(receipts.Command, must(qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "ran", qp.Node(must(ok.Invocation.Args.LookupByString("ran"))))
		qp.MapEntry(ma, "out", qp.Map(2, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "ok", qp.Node(state("x")))
			qp.MapEntry(ma, "error", qp.Node(state("y")))
		}))
	})), meta))
	write("bad-truncated.cbor", ok.Raw[:len(ok.Raw)/2])
	write("bad-empty.cbor", []byte{})
}
