package conformance

import (
	"context"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/client"
)

// caseMetricsEntries adds uploads to the case's space, then selects the space's metrics:
// upload/add-total is an entry listed with its key "upload/add-total", status "counter",
// the number of uploads as its value and a head receipt; the receipt chain of that head is
// about the metric's path, each receipt's value above the one before it (one receipt per
// commit that added to it, at most one per upload), each receipt ran an invocation of its
// own that is not one of the client's upload puts, and dag/get of the metric answers the
// same head.
func caseMetricsEntries(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	const n = 3
	clientRan := map[cid.Cid]bool{}
	for i := range n {
		key, v := uploadValue(i)
		clientRan[e.put(ctx, e.abs("upload/"+key), v).Ran] = true
	}
	page, err := e.c.Select(ctx, e.abs("metrics"), client.Query{})
	if err != nil {
		t.Fatalf("select metrics: %v", err)
	}
	var ent *client.PageEntry
	var keys []string
	for i := range page.Entries {
		keys = append(keys, entryKey(page.Entries[i]))
		if entryKey(page.Entries[i]) == "upload/add-total" {
			ent = &page.Entries[i]
		}
	}
	if ent == nil {
		t.Fatalf("select of the space's metrics listed %q, want an entry upload/add-total", keys)
	}
	if ent.Status != "counter" || !ent.Head.Defined() || ent.State == nil {
		t.Fatalf("upload/add-total listed with status %q, head %s, state %s; want a counter with a head receipt", ent.Status, ent.Head, show(ent.State))
	}
	want := e.abs("metrics/upload/add-total")
	value := func(what string, r *client.Receipt) int64 {
		t.Helper()
		if r.Ok == nil {
			t.Fatalf("%s: not an ok receipt", what)
		}
		v, err := r.Ok.LookupByString("value")
		if err != nil {
			t.Fatalf("%s: out.ok %s has no value", what, show(r.Ok))
		}
		n, err := v.AsInt()
		if err != nil {
			t.Fatalf("%s: value %s is not an integer", what, show(v))
		}
		return n
	}
	chain, err := e.c.Chain(ctx, ent.Head)
	if err != nil {
		t.Fatalf("GET /receipts/%s?chain=1: %v", ent.Head, err)
	}
	if len(chain) < 1 || len(chain) > n {
		t.Fatalf("the metric's chain has %d receipts for %d uploads, want 1 to %d", len(chain), n, n)
	}
	if got := value("head receipt", chain[0]); got != n {
		t.Errorf("upload/add-total head receipt says %d, want %d", got, n)
	}
	ran := map[cid.Cid]bool{}
	for i, r := range chain {
		if r.Path != want {
			t.Errorf("receipt %s in the metric's chain is about %q, want %q", r.CID, r.Path, want)
		}
		// Each receipt ran an invocation of the service's own (one per commit that added
		// to the counter), not the client's upload put that caused the count.
		if !r.Ran.Defined() || ran[r.Ran] || clientRan[r.Ran] {
			t.Errorf("receipt %s in the metric's chain ran %s, want an invocation of the service's, one per receipt", r.CID, r.Ran)
		}
		ran[r.Ran] = true
		if i > 0 && value("chain", r) >= value("chain", chain[i-1]) {
			t.Errorf("metric chain values not increasing toward the head: %d then %d", value("chain", r), value("chain", chain[i-1]))
		}
	}
	g, err := e.c.Get(ctx, want)
	if err != nil {
		t.Fatalf("get %s: %v", want, err)
	}
	if !g.Head().Equals(ent.Head) {
		t.Errorf("get %s answered head %s, select listed %s", want, g.Head(), ent.Head)
	}
}
