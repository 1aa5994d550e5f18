package main

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/piece"
	commp "github.com/w3dag/w3dag/piece"
)

// TestServeAggregate composes the service as serve does with kilobyte bounds
// (--aggregate-min 2032, --aggregate-max 4064: two 1 KiB pieces), stores three CARs over
// HTTP and checks the whole way: each CAR's piece is computed from its bytes and joins
// the aggregate in the order computed; the first two make it ready and are aggregated
// with proofs that verify against its piece CID; the third starts the next aggregate.
func TestServeAggregate(t *testing.T) {
	ctx := context.Background()
	svc := newHTTPServiceConfig(t, func(c *serveConfig) { c.aggMin, c.aggMax = 2032, 4064 })
	c, space := agentClient(t, svc.url, svc.service.DID())
	var links []cid.Cid
	for range 3 {
		data := make([]byte, 1000) // a piece of 1 KiB padded, payload 1016
		fillCAR(t, data)
		link := carOf(data)
		value, err := storeValue(link, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Put(ctx, "/"+space+"/store/"+link.String(), value)
		if err != nil {
			t.Fatal(err)
		}
		req, err := uploadRequest(r.State())
		if err != nil {
			t.Fatal(err)
		}
		if err := putBytes(ctx, http.DefaultClient, req, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		// Computed (or further on) before the next: one at a time, so the order is known.
		waitStatus(t, svc.engine, piece.Path(svc.service.DID(), link), piece.StatusComputed, piece.StatusAggregated)
		links = append(links, link)
	}
	first := aggregate.Path(svc.service.DID(), aggregate.Key(1))
	var pcs []cid.Cid
	for _, l := range links {
		pcs = append(pcs, pieceCID(t, svc.engine, piece.Path(svc.service.DID(), l)))
	}
	// The members reach aggregated once the include task ran.
	for _, l := range links[:2] {
		waitStatus(t, svc.engine, piece.Path(svc.service.DID(), l), piece.StatusAggregated)
	}
	g, err := svc.engine.Entry(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if g.Status != aggregate.StatusReady {
		t.Fatalf("aggregate 1 is %s", g.Status)
	}
	ms, err := aggregate.Members(g.State)
	if err != nil || len(ms) != 2 || !ms[0].Equals(pcs[0]) || !ms[1].Equals(pcs[1]) {
		t.Fatalf("aggregate 1 members %v (%v), want %v", ms, err, pcs[:2])
	}
	ac, err := aggregate.PieceCID(g.State)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range links[:2] {
		e, err := svc.engine.Entry(ctx, piece.Path(svc.service.DID(), l))
		if err != nil {
			t.Fatal(err)
		}
		proof, err := aggregate.Inclusion(e.State)
		if err != nil {
			t.Fatal(err)
		}
		if err := commp.VerifyInclusion(ac, pcs[i], proof); err != nil {
			t.Fatalf("CAR %d: %v", i, err)
		}
	}
	second, err := svc.engine.Entry(ctx, aggregate.Path(svc.service.DID(), aggregate.Key(2)))
	if err != nil {
		t.Fatal(err)
	}
	if ms, _ := aggregate.Members(second.State); second.Status != aggregate.StatusIngesting || len(ms) != 1 || !ms[0].Equals(pcs[2]) {
		t.Fatalf("aggregate 2 is %s with %v", second.Status, ms)
	}
	if e, err := svc.engine.Entry(ctx, piece.Path(svc.service.DID(), links[2])); err != nil || e.Status != piece.StatusComputed {
		t.Fatalf("CAR 2's piece: %v %v", e, err)
	}
}

func pieceCID(t *testing.T, e *dag.Engine, p dag.Path) cid.Cid {
	t.Helper()
	ent, err := e.Entry(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := piece.Computed(ent.State)
	if err != nil {
		t.Fatalf("%s (%s): %v", p, ent.Status, err)
	}
	return c
}

// waitStatus waits until the entry at p has one of the statuses want.
func waitStatus(t *testing.T, e *dag.Engine, p dag.Path, want ...string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		ent, err := e.Entry(context.Background(), p)
		if err == nil && slices.Contains(want, ent.Status) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not %s after a minute: %v", p, want, err)
		}
	}
}
