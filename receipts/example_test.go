package receipts_test

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

func Example() {
	service, _ := did.Ed25519FromSeed(make([]byte, 32))
	blocks := map[cid.Cid][]byte{}
	ok, _ := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "status", qp.String("done"))
	})
	// Two receipts of one path, the second linking the first as origin.
	first, _ := receipts.Issue(service, receipts.Receipt{Ran: someCID("put"), Out: receipts.Out{Ok: ok}, Path: "/did:key:zSpace/notes/a", TS: 1, Seq: 1}, ucan.SealOptions{})
	blocks[first.CID] = first.Raw
	second, _ := receipts.Issue(service, receipts.Receipt{Ran: someCID("remove"), Out: receipts.Out{Ok: ok}, Path: "/did:key:zSpace/notes/a", Origin: &first.CID, TS: 2, Seq: 5}, ucan.SealOptions{})
	blocks[second.CID] = second.Raw

	load := func(c cid.Cid) ([]byte, error) { return blocks[c], nil }
	err := receipts.Walk(context.Background(), load, second.CID, service.DID(), func(_ *ucan.Token, r *receipts.Receipt) error {
		fmt.Println(r.Path, "seq", r.Seq)
		return nil
	})
	fmt.Println("verified:", err == nil)
	// Output:
	// /did:key:zSpace/notes/a seq 5
	// /did:key:zSpace/notes/a seq 1
	// verified: true
}
