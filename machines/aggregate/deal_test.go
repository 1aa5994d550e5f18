package aggregate_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// newOfferEnv is newEnv with offers on and an offer handler that takes every offer as
// acknowledged (the HTTP side is tested in cmd/w3dag against a fake broker).
func newOfferEnv(t *testing.T, b aggregate.Bounds) *env {
	t.Helper()
	m, err := aggregate.New(b, aggregate.WithOffers())
	if err != nil {
		t.Fatal(err)
	}
	cols := []dag.Collection{task.Collection(), piece.Machine{Aggregator: m}.Collection(), m.Collection(), metrics.Machine{}.Collection()}
	v := machinestest.Open(t, mem.New(), nil, cols, nil)
	hs := m.Handlers(v.E, nil)
	hs[aggregate.OfferCommand] = func(ctx context.Context, inv *ucan.Token) error {
		ap, err := task.PathOf(inv.Invocation.Args)
		if err != nil {
			return err
		}
		res, err := v.E.Transition(ctx, inv, ap, aggregate.EventOffered, nil)
		if err == nil {
			err = res.Err
		}
		return err
	}
	r := task.NewRunner(v.E, hs, task.RunnerOptions{Lease: time.Minute, BaseBackoff: time.Second, MaxBackoff: time.Second, MaxAttempts: 3})
	return &env{t: t, m: m, v: v, e: v.E, runner: r, svc: v.E.Service()}
}

// statuses returns the statuses of the receipts from head back through origin.
func (v *env) statuses(head cid.Cid) []string {
	v.t.Helper()
	var out []string
	err := v.e.Chain(context.Background(), head, func(_ *ucan.Token, r *receipts.Receipt) error {
		st, err := r.Out.Ok.LookupByString(dag.StatusKey)
		if err != nil {
			return err
		}
		s, err := st.AsString()
		out = append(out, s)
		return err
	})
	if err != nil {
		v.t.Fatal(err)
	}
	return out
}

// TestDeal: a ready aggregate whose members are aggregated gets an included receipt
// naming its offer task in fx; the acknowledged offer makes it deal_pending; a deal report
// makes it deal_processed and its members dealt; the same report again changes nothing,
// another is a conflict.
func TestDeal(t *testing.T) {
	ctx := context.Background()
	v := newOfferEnv(t, small)
	rng := rand.New(rand.NewPCG(7, 8))
	a, b := v.compute(pieceOf(rng, 1024, 0)), v.compute(pieceOf(rng, 1024, 3))
	v.run()
	ag := v.aggregates()
	if len(ag) != 1 || ag[0].Status != aggregate.StatusDealPending {
		t.Fatalf("aggregates %v, want one deal_pending", ag)
	}
	if got := v.statuses(ag[0].Head); !slices.Equal(got, []string{"deal_pending", "ready", "ready", "ingesting"}) {
		t.Fatalf("aggregate chain %v", got)
	}
	// The included receipt (origin of deal_pending) names the offer task, which ran the
	// deal_pending receipt.
	pending := v.receipt(ag[0].Head)
	included := v.receipt(*pending.Origin)
	if len(included.Fx) != 1 || !included.Fx[0].Equals(pending.Ran) {
		t.Fatalf("included fx %v, deal_pending ran %s", included.Fx, pending.Ran)
	}
	ac, err := aggregate.PieceCID(ag[0].State)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := aggregate.Lookup(ctx, v.e, ac); err != nil || p.String() != ag[0].Path.String() {
		t.Fatalf("Lookup(%s) = %s, %v", ac, p, err)
	}
	if _, err := aggregate.Lookup(ctx, v.e, a.piece.CID()); !errors.Is(err, aggregate.ErrUnknownAggregate) {
		t.Fatalf("Lookup of a piece: %v, want ErrUnknownAggregate", err)
	}

	deal := &aggregate.Deal{Provider: "f01234", DealID: 7, Expires: 1767225600}
	if err := aggregate.Report(ctx, v.e, ac, deal, ""); err != nil {
		t.Fatal(err)
	}
	v.run()
	if e := v.entry(ag[0].Path); e.Status != aggregate.StatusDealProcessed {
		t.Fatalf("aggregate is %s", e.Status)
	}
	for _, c := range []computed{a, b} {
		e := v.entry(piece.Path(v.svc, c.content))
		if e.Status != piece.StatusDealt {
			t.Fatalf("piece %s is %s", c.content, e.Status)
		}
		d, err := e.State.LookupByString("deal")
		if err != nil || !datamodel.DeepEqual(d, deal.Node()) {
			t.Fatalf("dealt piece's deal %v, %v", d, err)
		}
		if _, err := aggregate.Inclusion(e.State); err != nil {
			t.Fatalf("dealt piece's inclusion: %v", err)
		}
		if key, ok := aggregate.AggregateKey(e.State); !ok || key != ag[0].Path.Key {
			t.Fatalf("dealt piece names aggregate key %q (%v), want %s", key, ok, ag[0].Path.Key)
		}
		if got := v.statuses(e.Head); !slices.Equal(got, []string{"dealt", "aggregated", "computed", "queued"}) {
			t.Fatalf("piece chain %v", got)
		}
	}
	v.wantMetric(metrics.AggregateDealTotal, 1)

	// The same report again: nothing changes. Another deal or a failure: conflict.
	seq, _ := v.e.LastSeq(ctx)
	if err := aggregate.Report(ctx, v.e, ac, deal, ""); err != nil {
		t.Fatalf("repeated report: %v", err)
	}
	if again, _ := v.e.LastSeq(ctx); again != seq {
		t.Fatalf("the repeated report committed %d sequences", again-seq)
	}
	other := *deal
	other.DealID = 8
	if err := aggregate.Report(ctx, v.e, ac, &other, ""); !errors.Is(err, aggregate.ErrConflict) {
		t.Fatalf("another deal: %v, want ErrConflict", err)
	}
	if err := aggregate.Report(ctx, v.e, ac, nil, "too late"); !errors.Is(err, aggregate.ErrConflict) {
		t.Fatalf("a failure after the deal: %v, want ErrConflict", err)
	}
	if err := aggregate.Report(ctx, v.e, a.piece.CID(), deal, ""); !errors.Is(err, aggregate.ErrUnknownAggregate) {
		t.Fatalf("report for a piece: %v, want ErrUnknownAggregate", err)
	}
	v.wantMetric(metrics.AggregateDealTotal, 1)
}

// TestFailureRequeues: a failure report makes the aggregate failed; its members go back
// to computed (a receipt each) and into the next ingesting aggregate, in their order,
// which is made ready, included and offered like any other.
func TestFailureRequeues(t *testing.T) {
	ctx := context.Background()
	v := newOfferEnv(t, small)
	rng := rand.New(rand.NewPCG(9, 10))
	a, b := v.compute(pieceOf(rng, 1024, 0)), v.compute(pieceOf(rng, 1024, 1))
	v.run()
	first := v.aggregates()[0]
	ac, err := aggregate.PieceCID(first.State)
	if err != nil {
		t.Fatal(err)
	}
	// A third piece starts the next aggregate before the failure.
	c := v.compute(pieceOf(rng, 512, 0))
	if err := aggregate.Report(ctx, v.e, ac, nil, "piece x: downloaded bytes have commP y"); err != nil {
		t.Fatal(err)
	}
	if err := aggregate.Report(ctx, v.e, ac, nil, "piece x: downloaded bytes have commP y"); err != nil {
		t.Fatalf("repeated failure: %v", err)
	}
	if err := aggregate.Report(ctx, v.e, ac, &aggregate.Deal{Provider: "f01"}, ""); !errors.Is(err, aggregate.ErrConflict) {
		t.Fatalf("a deal after the failure: %v, want ErrConflict", err)
	}
	v.run()
	ag := v.aggregates()
	if len(ag) != 2 {
		t.Fatalf("%d aggregates, want 2", len(ag))
	}
	if ag[0].Status != aggregate.StatusFailed {
		t.Fatalf("first aggregate is %s", ag[0].Status)
	}
	if r, _ := ag[0].State.LookupByString("reason"); r == nil {
		t.Fatal("failed state has no reason")
	}
	// The second aggregate (ingesting with c) took a, then b, in their order, which
	// made it ready; it was included and offered like any other.
	want := []cid.Cid{c.piece.CID(), a.piece.CID(), b.piece.CID()}
	if got := members(t, ag[1]); !slices.EqualFunc(got, want, cid.Cid.Equals) {
		t.Fatalf("second aggregate members %v, want c, a, b", got)
	}
	if ag[1].Status != aggregate.StatusDealPending {
		t.Fatalf("second aggregate is %s", ag[1].Status)
	}
	for _, x := range []computed{a, b} {
		e := v.entry(piece.Path(v.svc, x.content))
		if e.Status != piece.StatusAggregated {
			t.Fatalf("requeued piece is %s", e.Status)
		}
		in, err := aggregate.PieceCID(e.State)
		if err != nil || in.Equals(ac) {
			t.Fatalf("requeued piece is in %s (%v), the failed aggregate is %s", in, err, ac)
		}
		if got := v.statuses(e.Head); !slices.Equal(got, []string{"aggregated", "computed", "aggregated", "computed", "queued"}) {
			t.Fatalf("requeued piece chain %v", got)
		}
	}
	v.wantMetric(metrics.AggregateDealTotal, 0)
}

// TestReportBeforeOffered: a report that arrives while the aggregate is still ready (the
// broker reported before the offer task recorded its answer) records the offer first:
// ready → deal_pending → deal_processed, each a receipt.
func TestReportBeforeOffered(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t, small) // no offers: the aggregate stays ready
	rng := rand.New(rand.NewPCG(11, 12))
	a, b := v.compute(pieceOf(rng, 1024, 0)), v.compute(pieceOf(rng, 1024, 0))
	v.run()
	ag := v.aggregates()
	if len(ag) != 1 || ag[0].Status != aggregate.StatusReady {
		t.Fatalf("aggregates %v, want one ready", ag)
	}
	if got := v.statuses(ag[0].Head); !slices.Equal(got, []string{"ready", "ingesting"}) {
		t.Fatalf("without offers the include task changed the aggregate: %v", got)
	}
	ac, err := aggregate.PieceCID(ag[0].State)
	if err != nil {
		t.Fatal(err)
	}
	if err := aggregate.Report(ctx, v.e, ac, &aggregate.Deal{Provider: "f01", DealID: 1, Expires: 2}, ""); err != nil {
		t.Fatal(err)
	}
	v.run()
	e := v.entry(ag[0].Path)
	if got := v.statuses(e.Head); !slices.Equal(got, []string{"deal_processed", "deal_pending", "ready", "ingesting"}) {
		t.Fatalf("aggregate chain %v", got)
	}
	for _, c := range []computed{a, b} {
		if st := v.entry(piece.Path(v.svc, c.content)).Status; st != piece.StatusDealt {
			t.Fatalf("piece is %s", st)
		}
	}
}
