package receipts_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

func BenchmarkIssue(b *testing.B) {
	svc := must(did.GenerateEd25519())
	origin := someCID("o")
	r := receipts.Receipt{Ran: someCID("a"), Out: receipts.Out{Ok: state("done")}, Path: "/did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK/upload/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", Origin: &origin, TS: 1700000000000, Seq: 12345}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := receipts.Issue(svc, r, ucan.SealOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	svc := must(did.GenerateEd25519())
	tok := must(receipts.Issue(svc, receipts.Receipt{Ran: someCID("a"), Out: receipts.Out{Ok: state("done")}, Path: "/p", TS: 1, Seq: 1}, ucan.SealOptions{}))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := receipts.Verify(tok, svc.DID()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChainWalk compares reading a 1,000-receipt chain as a client does (Walk: every
// signature verified) and as the server serves GET /receipts/{cid}?chain=1 (WalkStored:
// CIDs, issuer and path checked, signatures not verified again).
func BenchmarkChainWalk(b *testing.B) {
	svc := must(did.GenerateEd25519())
	blocks := map[cid.Cid][]byte{}
	var head *cid.Cid
	for i := range 1000 {
		r := receipts.Receipt{Ran: someCID(fmt.Sprint(i)), Out: receipts.Out{Ok: state("done")}, Path: "/p", Origin: head, TS: int64(i + 1), Seq: uint64(i + 1)}
		tok := must(receipts.Issue(svc, r, ucan.SealOptions{}))
		blocks[tok.CID] = tok.Raw
		c := tok.CID
		head = &c
	}
	load := func(c cid.Cid) ([]byte, error) { return blocks[c], nil }
	for _, bc := range []struct {
		name string
		walk func(context.Context, func(cid.Cid) ([]byte, error), cid.Cid, string, func(*ucan.Token, *receipts.Receipt) error) error
	}{{"verify", receipts.Walk}, {"stored", receipts.WalkStored}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				n := 0
				if err := bc.walk(context.Background(), load, *head, svc.DID(), func(*ucan.Token, *receipts.Receipt) error { n++; return nil }); err != nil || n != 1000 {
					b.Fatal(n, err)
				}
			}
		})
	}
}
