package server

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
)

// TestChainPages: GET /receipts/{cid}?chain=1 serves a long chain in pages of ?limit=
// receipts (bounded bytes per request), naming the next page's start in W3dag-Chain-Next;
// following the pages yields the whole chain, head first, once.
func TestChainPages(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	// put, then 12 × (remove, put): a chain of 25 receipts at notes/a.
	invs := []*ucan.Token{h.put("a", "v0")}
	for i := 1; i <= 12; i++ {
		invs = append(invs, invoke(t, h.space, h.space.DID(), "/dag/remove", `{"path": "notes/a"}`), h.put("a", fmt.Sprintf("v%d", i)))
	}
	for _, inv := range invs {
		if r := h.send([]*ucan.Token{inv})[inv.CID]; r.Out.Err != nil {
			t.Fatalf("%s: %+v", inv.Invocation.Command, r.Out.Err)
		}
	}
	entry, err := h.engine.Entry(ctx, mustPath(t, h.space.DID(), "notes/a"))
	if err != nil {
		t.Fatal(err)
	}
	var all []cid.Cid
	next := entry.Head.String()
	pages := 0
	for next != "" {
		resp, err := http.Get(h.http.URL + "/receipts/" + next + "?chain=1&limit=10")
		if err != nil {
			t.Fatal(err)
		}
		nextHdr, truncated := resp.Header.Get(ChainNextHeader), resp.Header.Get(ChainTruncatedHeader)
		body := readAll(t, resp)
		if len(body) > MaxChainPageBytes+64<<10 {
			t.Fatalf("page of %d bytes", len(body))
		}
		roots, blocks, err := message.DecodeCAR(body, 0)
		if err != nil || len(roots) != 1 || roots[0].String() != next {
			t.Fatalf("page at %s: roots %v, err %v", next, roots, err)
		}
		if len(blocks) > 10 {
			t.Fatalf("page of %d receipts with limit=10", len(blocks))
		}
		if (nextHdr != "") != (truncated == "true") {
			t.Fatalf("next %q but truncated %q", nextHdr, truncated)
		}
		for _, b := range blocks {
			all = append(all, b.CID)
		}
		next = nextHdr
		pages++
	}
	if len(all) != 25 || pages != 3 {
		t.Fatalf("%d receipts in %d pages, want 25 in 3", len(all), pages)
	}
	seen := map[cid.Cid]bool{}
	for _, c := range all {
		if seen[c] {
			t.Fatalf("receipt %s twice", c)
		}
		seen[c] = true
	}
	for _, bad := range []string{"0", "-1", "x", fmt.Sprint(MaxChainLength + 1)} {
		resp, err := http.Get(h.http.URL + "/receipts/" + entry.Head.String() + "?chain=1&limit=" + bad)
		if err != nil {
			t.Fatal(err)
		}
		checkJSONError(t, resp, 400, NameBadRequest)
	}
}
