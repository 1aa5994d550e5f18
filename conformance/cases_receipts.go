package conformance

import (
	"bytes"
	"context"
	"io"
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

// caseChainPages: GET /receipts/{cid}?chain=1&limit=2 serves a chain of five receipts in
// pages of at most two, each naming the next page's first receipt in W3dag-Chain-Next
// (docs/SECURITY.md, "cheap reads"); the pages together are the chain the client verifies.
func caseChainPages(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	var head cid.Cid
	for i := range 5 {
		if i%2 == 0 {
			head = e.put(ctx, p, v).CID
			continue
		}
		r, err := e.c.Remove(ctx, p)
		if err != nil {
			t.Fatalf("remove: %v", err)
		}
		head = r.CID
	}
	chain, err := e.c.Chain(ctx, head)
	if err != nil {
		t.Fatalf("client chain: %v", err)
	}
	var paged []cid.Cid
	next := head.String()
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatalf("more than 5 pages for 5 receipts")
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url("/receipts/"+next+"?chain=1&limit=2"), nil)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		req.Header.Set("Accept", message.ContentTypeCAR)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET chain page: %v", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, client.MaxReplySize))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET chain page at %s: %d %v", next, resp.StatusCode, err)
		}
		_, blocks, err := message.DecodeCAR(body, 0)
		if err != nil {
			t.Fatalf("chain page at %s: %v", next, err)
		}
		if len(blocks) == 0 || len(blocks) > 2 {
			t.Fatalf("chain page with limit=2 has %d receipts", len(blocks))
		}
		for _, b := range blocks {
			paged = append(paged, b.CID)
		}
		next = resp.Header.Get("W3dag-Chain-Next")
	}
	var want []cid.Cid
	for _, r := range chain {
		want = append(want, r.CID)
	}
	if len(want) != 5 || !slices.Equal(paged, want) {
		t.Errorf("pages %v, client chain %v (want 5 receipts, equal)", paged, want)
	}
}
