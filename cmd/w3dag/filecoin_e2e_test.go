package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/store"
)

// TestFilecoinEndToEnd runs the whole Filecoin half with real components: `w3dag serve`
// with tiny aggregate bounds and --broker pointing at a real `w3dag broker`, which
// downloads every piece from the service, recomputes its commP, the aggregate's piece
// CID and every inclusion proof before it reports a deal. Two spaces store CARs, one CAR
// in both: every CAR ends dealt, every aggregate deal_processed within its bounds, and
// the CAR stored twice has one piece.
func TestFilecoinEndToEnd(t *testing.T) {
	brokerURL := startBroker(t)
	clearEnv(t)
	const minPayload, maxPayload = 2032, 4064
	url, svc := runServeFlags(t, "--aggregate-min", "2032", "--aggregate-max", "4064", "--broker", brokerURL)
	c1, space1 := agentClient(t, url, svc)
	c2, space2 := agentClient(t, url, svc)
	datas, links := storeCARs(t, c1, svc, space1, 1000, 1000, 1000)
	// The second space stores the first CAR too (its bytes are held: done at once), then
	// one of its own.
	shared, err := storeValue(links[0], int64(len(datas[0])))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c2.Put(context.Background(), "/"+space2+"/store/"+links[0].String(), shared); err != nil || r.Status() != store.StatusDone {
		t.Fatalf("second space's store of a held CAR: %v %v", err, r)
	}
	_, more := storeCARs(t, c2, svc, space2, 1000)
	links = append(links, more...)

	aggregates := map[cid.Cid]bool{}
	for _, l := range links {
		r := waitEntry(t, c1, "/"+svc+"/piece/"+l.String(), piece.StatusDealt)
		aggregates[linkAt(t, r, "aggregate")] = true
		if _, err := r.State().LookupByString("deal"); err != nil {
			t.Errorf("dealt piece of %s has no deal: %v", l, err)
		}
	}
	page, err := c1.Select(context.Background(), "/"+svc+"/aggregate", client.Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var payload int64
	for _, e := range page.Entries {
		if got := e.State; got == nil {
			t.Fatalf("aggregate %s has no state in the page", e.Key)
		}
		status, _ := e.State.LookupByString("status")
		st, _ := status.AsString()
		if st != aggregate.StatusDealProcessed {
			t.Errorf("aggregate %s is %s, want %s", e.Key, st, aggregate.StatusDealProcessed)
			continue
		}
		sn, err := e.State.LookupByString("size")
		if err != nil {
			t.Fatalf("aggregate %s: no size", e.Key)
		}
		padded, _ := sn.AsInt()
		p := padded / 128 * 127
		if p < minPayload || p > maxPayload {
			t.Errorf("aggregate %s holds %d payload bytes, outside [%d, %d]", e.Key, p, minPayload, maxPayload)
		}
		payload += p
	}
	if len(page.Entries) != len(aggregates) || len(aggregates) != 2 {
		t.Errorf("%d aggregate entries, the dealt pieces name %d, want 2 of each", len(page.Entries), len(aggregates))
	}
	if want := int64(len(links)) * 1016; payload != want {
		t.Errorf("aggregates hold %d payload bytes, want %d (every piece once)", payload, want)
	}
	// Every transition is a receipt, and the chain walks from the deal back to the store:
	// the dealt piece's receipts (dealt ← aggregated ← computed ← queued, through origin),
	// and the queued receipt ran the store's invocation, whose receipt is the store entry's.
	dealt := waitEntry(t, c1, "/"+svc+"/piece/"+links[1].String(), piece.StatusDealt)
	chain, err := c1.Chain(context.Background(), dealt.Head())
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, r := range chain {
		statuses = append(statuses, r.Status())
	}
	if got, want := strings.Join(statuses, " "), "dealt aggregated computed queued"; got != want {
		t.Fatalf("piece receipts %s, want %s", got, want)
	}
	cause, err := c1.Receipt(context.Background(), chain[len(chain)-1].Ran)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/" + space1 + "/store/" + links[1].String(); cause.Path != want || cause.Status() != store.StatusDone {
		t.Fatalf("the queued piece's cause is %s (%s), want the store receipt of %s", cause.Path, cause.Status(), want)
	}
	// The piece bytes the broker downloaded are the CAR's.
	resp, err := http.Get(url + "/piece/" + linkAt(t, waitEntry(t, c1, "/"+svc+"/piece/"+links[0].String(), piece.StatusDealt), "piece").String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(buf.Bytes(), datas[0]) {
		t.Errorf("GET /piece of the first CAR's piece: %d, %d bytes, %v", resp.StatusCode, buf.Len(), err)
	}
}

// TestFilecoinEndToEndFailure: the same with a real `w3dag broker --fail-with` that
// reports a failure for every offer. The first aggregate ends failed with that reason and
// its pieces are aggregated anew: a later aggregate holds the same pieces in the same
// order, and every piece is back in an aggregate (none left computed). The broker fails
// every offer, so later aggregates fail too: only the first failure and the
// re-aggregation are asserted.
func TestFilecoinEndToEndFailure(t *testing.T) {
	const reason = "no provider"
	brokerURL := startBroker(t, "--fail-with", reason)
	clearEnv(t)
	url, svc := runServeFlags(t, "--aggregate-min", "2032", "--aggregate-max", "4064", "--broker", brokerURL)
	c, space := agentClient(t, url, svc)
	_, links := storeCARs(t, c, svc, space, 1000, 1000)
	first := waitEntry(t, c, "/"+svc+"/aggregate/"+aggregate.Key(1), aggregate.StatusFailed)
	if r, err := first.State().LookupByString("reason"); err != nil {
		t.Fatalf("failed aggregate has no reason: %v", err)
	} else if s, _ := r.AsString(); s != reason {
		t.Fatalf("failed aggregate's reason %q, want %q", s, reason)
	}
	// A later aggregate holds the same pieces, in the same order (so the same aggregate
	// piece CID). Each is failed soon after it is offered, and a failed state keeps only
	// its reason: look for one caught ready or deal_pending.
	var second *client.Receipt
	var m2 []cid.Cid
	for n, deadline := uint64(2), time.Now().Add(time.Minute); second == nil; {
		if time.Now().After(deadline) {
			t.Fatalf("no aggregate after the first caught ready or deal_pending (up to key %s)", aggregate.Key(n))
		}
		r, err := c.Get(context.Background(), "/"+svc+"/aggregate/"+aggregate.Key(n))
		switch {
		case err != nil || r.Status() == aggregate.StatusIngesting:
			time.Sleep(5 * time.Millisecond)
		case r.Status() == aggregate.StatusReady || r.Status() == aggregate.StatusDealPending:
			if m2, err = aggregate.Members(r.State()); err != nil {
				t.Fatal(err)
			}
			second = r
		default:
			n++
		}
	}
	if len(m2) != len(links) {
		t.Fatalf("a later aggregate has %d pieces, want %d", len(m2), len(links))
	}
	ac := linkAt(t, second, "aggregate")
	for i, l := range links {
		// Nothing lost: every piece is in an aggregate again (it may be between two, the
		// broker failing every offer: computed only for the time of a requeue).
		r := waitEntry(t, c, "/"+svc+"/piece/"+l.String(), piece.StatusAggregated)
		pc := linkAt(t, r, "piece")
		if !m2[i].Equals(pc) {
			t.Errorf("second aggregate's piece %d is %s, want %s (the piece of %s, in order)", i, m2[i], pc, l)
		}
		if got := linkAt(t, r, "aggregate"); !got.Equals(ac) {
			t.Errorf("piece of %s is aggregated in %s, want %s", l, got, ac)
		}
	}
}

// TestFilecoinSIGKILL runs `w3dag serve` as a process with --broker pointing at a test
// broker that acknowledges offers (202) and records them but holds its report. Once the
// aggregate of two CARs is deal_pending the server is SIGKILLed and restarted on the same
// data folder and port (the report URL holds the public URL); then the broker verifies
// the offer and posts its deal report to the offer's reportUrl. Every piece ends dealt,
// the aggregate deal_processed, and the broker got one offer for it: nothing lost,
// nothing offered twice.
func TestFilecoinSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the w3dag binary")
	}
	bin := buildW3dag(t)
	clearEnv(t)
	var mu sync.Mutex
	var posts []aggregate.Offer // every offer posted, repeats included
	brokerSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var o aggregate.Offer
		if r.Method != http.MethodPost || r.URL.Path != "/offers" || json.NewDecoder(r.Body).Decode(&o) != nil {
			http.Error(w, "not an offer", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, have := range posts {
			if have.Aggregate == o.Aggregate {
				posts = append(posts, o)
				w.WriteHeader(http.StatusOK) // already have it
				return
			}
		}
		posts = append(posts, o)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(brokerSrv.Close)
	offers := func() []aggregate.Offer {
		mu.Lock()
		defer mu.Unlock()
		return append([]aggregate.Offer(nil), posts...)
	}

	// A free port, for both runs of the server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	data := t.TempDir()
	start := func() *child {
		return startServeArgs(t, bin, nil, "--data", data, "--listen", listen, "--log-level", "warn",
			"--aggregate-min", "2032", "--aggregate-max", "4064", "--broker", brokerSrv.URL)
	}
	first := start()
	c, space := agentClient(t, first.url, first.did)
	_, links := storeCARs(t, c, first.did, space, 1000, 1000)
	key := "/" + first.did + "/aggregate/" + aggregate.Key(1)
	ac := linkAt(t, waitEntry(t, c, key, aggregate.StatusDealPending), "aggregate")
	if got := offers(); len(got) != 1 || got[0].Aggregate != ac.String() {
		t.Fatalf("offers before the kill: %+v, want one for %s", got, ac)
	}

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.cmd.Wait()
	second := start()
	if second.url != first.url || second.did != first.did {
		t.Fatalf("restarted as %s %s, was %s %s", second.url, second.did, first.url, first.did)
	}
	// The aggregate is still deal_pending after the restart (nothing rolled back).
	waitEntry(t, c, key, aggregate.StatusDealPending)

	// The broker verifies the offer against the restarted service's pieces and reports.
	b := &fakeBroker{t: t}
	b.verifyAndReport(offers()[0], false)
	if len(b.reports) != 1 || b.reports[0] != http.StatusOK {
		t.Fatalf("report answers %v, want [200]", b.reports)
	}
	waitEntry(t, c, key, aggregate.StatusDealProcessed)
	for _, l := range links {
		r := waitEntry(t, c, "/"+first.did+"/piece/"+l.String(), piece.StatusDealt)
		if got := linkAt(t, r, "aggregate"); !got.Equals(ac) {
			t.Errorf("piece of %s dealt in %s, want %s", l, got, ac)
		}
	}
	page, err := c.Select(context.Background(), "/"+first.did+"/aggregate", client.Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 {
		t.Errorf("%d aggregates, want 1", len(page.Entries))
	}
	if got := offers(); len(got) != 1 {
		t.Errorf("the broker got %d offers (%+v), want 1: the restart offered again", len(got), got)
	}
}
