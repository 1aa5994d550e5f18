package conformance

import (
	"bytes"
	"context"
	"net/http"
	"slices"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan/did"
)

func caseServiceDID(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	if _, err := did.Parse(e.service); err != nil {
		t.Fatalf("service DID %q: %v", e.service, err)
	}
	if target.ServiceDID != "" {
		got, err := client.FetchServiceDID(ctx, e.hc, target.URL)
		if err != nil {
			t.Fatalf("did.json: %v", err)
		}
		if got != target.ServiceDID {
			t.Errorf("did.json id %q, want %q", got, target.ServiceDID)
		}
	}
}

func caseReceiptChain(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	r1 := e.put(ctx, p, v)
	r2, err := e.c.Remove(ctx, p)
	if err != nil {
		t.Fatalf("remove: %v", err)
	}
	r3 := e.put(ctx, p, v)
	one, err := e.c.Receipt(ctx, r2.CID)
	if err != nil {
		t.Fatalf("GET /receipts/%s: %v", r2.CID, err)
	}
	if !bytes.Equal(one.Token.Raw, r2.Token.Raw) {
		t.Errorf("GET /receipts/%s returned other bytes than POST /ucan did", r2.CID)
	}
	chain, err := e.c.Chain(ctx, r3.CID)
	if err != nil {
		t.Fatalf("GET /receipts/%s?chain=1: %v", r3.CID, err)
	}
	var got []cid.Cid
	for _, r := range chain {
		got = append(got, r.CID)
		if r.Path != p {
			t.Errorf("receipt %s in the chain is about %q, want %q", r.CID, r.Path, p)
		}
	}
	want := []cid.Cid{r3.CID, r2.CID, r1.CID}
	if !slices.Equal(got, want) {
		t.Errorf("chain %v, want %v", got, want)
	}
	for i := 1; i < len(chain); i++ {
		if chain[i].Seq >= chain[i-1].Seq {
			t.Errorf("chain seq not decreasing: %d then %d", chain[i-1].Seq, chain[i].Seq)
		}
	}
	if _, err := e.c.Receipt(ctx, message.Sum(message.CodecDAGCBOR, []byte("no such receipt"))); !isHTTPStatus(err, http.StatusNotFound) {
		t.Errorf("GET of an unknown receipt: %v, want HTTP 404", err)
	}
}

func caseRepeat(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	inv, err := e.c.NewInvocation(ctx, client.CmdPut, p, client.Args{"value": v})
	if err != nil {
		t.Fatalf("invocation: %v", err)
	}
	first, err := e.c.Send(ctx, inv)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	wantStatus(t, "put", first[0], "done")
	again, err := e.c.Send(ctx, inv)
	if err != nil {
		t.Fatalf("sending the same invocation again: %v", err)
	}
	if !again[0].CID.Equals(first[0].CID) {
		t.Errorf("the same invocation sent twice got receipts %s and %s, want the stored one", first[0].CID, again[0].CID)
	}
	byInv, err := e.c.Receipt(ctx, inv.Token.CID)
	if err != nil {
		t.Fatalf("GET /receipts/<invocation CID>: %v", err)
	}
	if !byInv.CID.Equals(first[0].CID) {
		t.Errorf("GET /receipts/<invocation CID> gave %s, want %s", byInv.CID, first[0].CID)
	}
}
