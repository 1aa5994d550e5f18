package conformance

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime"

	"github.com/w3dag/w3dag/client"
)

func casePutGet(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	r := e.put(ctx, p, v)
	wantStatus(t, "put", r, "done")
	if r.Path != p {
		t.Errorf("put receipt path %q, want %q", r.Path, p)
	}
	if r.Origin != nil {
		t.Errorf("first put has origin %s", *r.Origin)
	}
	if r.Earlier {
		t.Errorf("first put answered with a receipt for another invocation (ran %s)", r.Ran)
	}
	g, err := e.c.Get(ctx, p)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	wantStatus(t, "get", g, "done")
	if !ipld.DeepEqual(g.State(), r.Ok) {
		t.Errorf("get state %s, want the put's %s", show(g.State()), show(r.Ok))
	}
	if !g.Head().Equals(r.CID) {
		t.Errorf("get names head %s, want the put receipt %s", g.Head(), r.CID)
	}
	if g.HeadReceipt != nil && !bytes.Equal(g.HeadReceipt.Token.Raw, r.Token.Raw) {
		t.Errorf("get carried a head receipt other than the put's")
	}
	f, err := e.c.Get(ctx, p+"/status")
	if err != nil {
		t.Fatalf("get of the status field: %v", err)
	}
	if s, err := f.State().AsString(); err != nil || s != "done" {
		t.Errorf("get %s/status = %s, want \"done\"", p, show(f.State()))
	}
	other, _ := e.entry(1)
	if _, err := e.c.Get(ctx, other); !isReceiptError(err, "NotFound") {
		t.Errorf("get of a missing entry: %v, want a NotFound error receipt", err)
	}
}

func casePutSameValue(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	r1 := e.put(ctx, p, v)
	wantStatus(t, "put", r1, "done")
	r2 := e.put(ctx, p, v)
	wantStatus(t, "same put", r2, "done")
	if !r2.CID.Equals(r1.CID) {
		t.Errorf("same-value put gave receipt %s (origin %v), want the head %s", r2.CID, r2.Origin, r1.CID)
	}
	chain, err := e.c.Chain(ctx, r2.CID)
	if err != nil {
		t.Fatalf("chain: %v", err)
	}
	if len(chain) != 1 {
		t.Errorf("chain after a same-value put has %d receipts, want 1", len(chain))
	}
}

func caseRemoveThenPut(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	r1 := e.put(ctx, p, v)
	r2, err := e.c.Remove(ctx, p)
	if err != nil {
		t.Fatalf("remove: %v", err)
	}
	wantStatus(t, "remove", r2, "removed")
	if r2.Origin == nil || !r2.Origin.Equals(r1.CID) {
		t.Errorf("remove origin %v, want the put receipt %s", r2.Origin, r1.CID)
	}
	g, err := e.c.Get(ctx, p)
	if err != nil {
		t.Fatalf("get after remove: %v", err)
	}
	wantStatus(t, "get after remove", g, "removed")
	r3 := e.put(ctx, p, v)
	wantStatus(t, "put after remove", r3, "done")
	if r3.Origin == nil || !r3.Origin.Equals(r2.CID) {
		t.Errorf("put after remove has origin %v, want the remove receipt %s", r3.Origin, r2.CID)
	}
	if r3.CID.Equals(r1.CID) {
		t.Errorf("put after remove returned the first put's receipt")
	}
}

func caseBatch(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	const n = 50
	var invs []*client.Invocation
	for i := range n {
		p, v := e.entry(i)
		inv, err := e.c.NewInvocation(ctx, client.CmdPut, p, client.Args{"value": v})
		if err != nil {
			t.Fatalf("invocation: %v", err)
		}
		invs = append(invs, inv)
	}
	rs, err := e.c.Send(ctx, invs...)
	if err != nil {
		t.Fatalf("sending %d invocations in one message: %v", n, err)
	}
	seen := map[cid.Cid]bool{}
	for i, r := range rs {
		wantStatus(t, fmt.Sprintf("put %d of the batch", i), r, "done")
		if seen[r.CID] {
			t.Errorf("receipt %s returned twice", r.CID)
		}
		seen[r.CID] = true
	}
	page, err := e.c.Select(ctx, e.collection(), client.Query{Limit: client.MaxSelectLimit})
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	if len(page.Entries) != n {
		t.Errorf("select after the batch: %d entries, want %d", len(page.Entries), n)
	}
}
