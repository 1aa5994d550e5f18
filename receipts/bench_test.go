package receipts_test

import (
	"testing"

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
