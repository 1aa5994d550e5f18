package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// TestEntries stores CARs concurrently (odd sizes: the store stand-in makes them done at once): the metrics are entries that select lists, each
// with a chain of receipts, one per commit that changed it (not one per store), whose ran
// is a Command invocation listing the counter and its delta; the deltas along a chain sum
// to the entry's value.
func TestEntries(t *testing.T) {
	v := machinestest.Open(t, mem.New(), nil, nil, nil)
	ctx := context.Background()
	owner := machinestest.Signer(t)
	space := owner.DID()
	const n = 24
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			blob := machinestest.CAR(t)
			if res := v.Put(owner, machinestest.Path(space, "store", blob.String()), machinestest.StoreValue(blob, int64(2*i+1))); res.Err != nil {
				t.Error(res.Err)
			}
		}()
	}
	wg.Wait()
	wantSize := int64(0)
	for i := range n {
		wantSize += int64(2*i + 1)
	}
	commits := v.E.Stats().Commits
	for _, subject := range []string{space, v.E.Service()} {
		p := dag.Path{Subject: subject, Collection: metrics.Name}
		inv := machinestest.Invocation(t, owner, "/dag/select", p, nil)
		res, err := v.E.Select(ctx, inv, p, dag.Query{})
		if err != nil || res.Err != nil {
			t.Fatalf("select %s: %v %v", p, err, res.Err)
		}
		got := map[string]int64{}
		for _, ent := range res.Page.Entries {
			name := ent.Path.Key + "/" + ent.Path.Fields[0]
			val, err := must(ent.State.LookupByString("value")).AsInt()
			if err != nil {
				t.Fatal(err)
			}
			got[name] = val
			if ent.Status != metrics.StatusCounter {
				t.Errorf("%s: status %q", ent.Path, ent.Status)
			}
			chain, sum := 0, int64(0)
			err = v.E.Chain(ctx, ent.Head, func(_ *ucan.Token, r *receipts.Receipt) error {
				chain++
				if r.Path != ent.Path.String() {
					return fmt.Errorf("receipt of %s in the chain of %s", r.Path, ent.Path)
				}
				tok, err := v.E.Receipt(ctx, r.Ran)
				if err != nil {
					return fmt.Errorf("ran: %w", err)
				}
				mi, err := metrics.ParseInvocation(tok, v.E.Service())
				if err != nil {
					return err
				}
				for i, mp := range mi.Paths {
					if mp.String() == r.Path {
						sum += mi.Deltas[i]
						if mi.TS != r.TS || mi.Seq > r.Seq || r.Seq >= mi.Seq+uint64(len(mi.Paths)) {
							return fmt.Errorf("receipt seq %d ts %d, invocation seq %d (+%d) ts %d", r.Seq, r.TS, mi.Seq, len(mi.Paths), mi.TS)
						}
						return nil
					}
				}
				return fmt.Errorf("ran %s does not list %s", r.Ran, r.Path)
			})
			if err != nil {
				t.Fatalf("%s: %v", ent.Path, err)
			}
			if sum != val {
				t.Errorf("%s: deltas along the chain sum to %d, value %d", ent.Path, sum, val)
			}
			if uint64(chain) > commits || chain >= n {
				t.Errorf("%s: %d receipts for %d stores in %d commits", ent.Path, chain, n, commits)
			}
		}
		want := map[string]int64{metrics.StoreAddTotal: n, metrics.StoreAddSizeTotal: wantSize}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: select listed %v, want %v", subject, got, want)
		}
	}
	if n, err := metrics.Value(ctx, v.E, space, metrics.StoreAddTotal); err != nil || n != 24 {
		t.Fatalf("Value %d %v", n, err)
	}
}

// TestApply replays the Command invocations of one engine into an empty one with the same
// service key, clock and NoFinish: the metric entries come out with identical heads. Out
// of order or foreign invocations are refused.
func TestApply(t *testing.T) {
	svc := machinestest.Signer(t)
	space := machinestest.Signer(t).DID()
	now := time.UnixMilli(1_800_000_000_000)
	clock := func() time.Time { return now }
	src := openEngine(t, svc, clock, false)
	ctx := context.Background()
	var invs []cid.Cid
	for i := range 4 {
		err := src.Update(ctx, func(tx *dag.Tx) error {
			if err := metrics.AddBoth(tx, space, metrics.UploadAddTotal, 1); err != nil {
				return err
			}
			if i%2 == 1 {
				return metrics.Add(tx, space, metrics.UploadRemoveTotal, 1)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
	}
	evs, err := src.Log(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	heads := map[string]cid.Cid{}
	for _, ev := range evs {
		r, err := receipts.Parse(must(src.Receipt(ctx, ev.Receipt)))
		if err != nil {
			t.Fatal(err)
		}
		if len(invs) == 0 || !invs[len(invs)-1].Equals(r.Ran) {
			invs = append(invs, r.Ran)
		}
		heads[ev.Path.String()] = ev.Receipt
	}
	if len(invs) != 4 || len(heads) != 3 || len(evs) != 10 {
		t.Fatalf("%d invocations, %d metrics, %d receipts; want 4, 3, 10", len(invs), len(heads), len(evs))
	}

	dst := openEngine(t, svc, clock, true)
	apply := func(c cid.Cid) error {
		tok := must(src.Receipt(ctx, c))
		mi, err := metrics.ParseInvocation(tok, svc.DID())
		if err != nil {
			return err
		}
		now = time.UnixMilli(mi.TS)
		return dst.Update(ctx, func(tx *dag.Tx) error { return metrics.Apply(tx, tok) })
	}
	if err := apply(invs[1]); !errors.Is(err, metrics.ErrOutOfOrder) {
		t.Fatalf("applying the second invocation first: %v, want ErrOutOfOrder", err)
	}
	// At its sequence but at another time than it names: refused too.
	first := must(src.Receipt(ctx, invs[0]))
	now = time.UnixMilli(must(metrics.ParseInvocation(first, svc.DID())).TS + 1)
	if err := dst.Update(ctx, func(tx *dag.Tx) error { return metrics.Apply(tx, first) }); !errors.Is(err, metrics.ErrOutOfOrder) {
		t.Fatalf("applying the first invocation 1 ms late: %v, want ErrOutOfOrder", err)
	}
	for _, c := range invs {
		if err := apply(c); err != nil {
			t.Fatal(err)
		}
	}
	for p, head := range heads {
		ent, err := dst.Entry(ctx, must(dag.ParsePath(p)))
		if err != nil {
			t.Fatal(err)
		}
		if !ent.Head.Equals(head) {
			t.Errorf("%s: replayed head %s, original %s", p, ent.Head, head)
		}
	}
	// With NoFinish, counting in a batch writes nothing.
	seq := must(dst.LastSeq(ctx))
	if err := dst.Update(ctx, func(tx *dag.Tx) error { return metrics.Add(tx, space, metrics.UploadAddTotal, 1) }); err != nil {
		t.Fatal(err)
	}
	if got := must(dst.LastSeq(ctx)); got != seq {
		t.Fatalf("NoFinish engine committed %d records", got-seq)
	}
	// An invocation of another issuer is refused.
	other := openEngine(t, machinestest.Signer(t), clock, true)
	tok := must(src.Receipt(ctx, invs[0]))
	err = other.Update(ctx, func(tx *dag.Tx) error { return metrics.Apply(tx, tok) })
	if !errors.Is(err, metrics.ErrInvalidInvocation) {
		t.Fatalf("foreign invocation: %v", err)
	}
}

// TestLegacyCounter: a metric kept in a kv counter before metrics were entries reads that
// counter until its first entry, which continues from it.
func TestLegacyCounter(t *testing.T) {
	v := machinestest.Open(t, mem.New(), nil, nil, nil)
	ctx := context.Background()
	space := machinestest.Signer(t).DID()
	legacy := "metrics/" + space + "/" + metrics.StoreAddTotal
	if err := v.E.Update(ctx, func(tx *dag.Tx) error { return tx.Add(legacy, 40) }); err != nil {
		t.Fatal(err)
	}
	if n := must(metrics.Value(ctx, v.E, space, metrics.StoreAddTotal)); n != 40 {
		t.Fatalf("legacy value %d", n)
	}
	if err := v.E.Update(ctx, func(tx *dag.Tx) error { return metrics.Add(tx, space, metrics.StoreAddTotal, 2) }); err != nil {
		t.Fatal(err)
	}
	ent := must(v.E.Entry(ctx, metrics.Path(space, metrics.StoreAddTotal)))
	if n := must(must(ent.State.LookupByString("value")).AsInt()); n != 42 {
		t.Fatalf("first entry %d, want 42", n)
	}
}

// TestParseInvocation refuses malformed Command invocations with ErrInvalidInvocation.
func TestParseInvocation(t *testing.T) {
	svc := machinestest.Signer(t)
	space := machinestest.Signer(t).DID()
	p1 := "/" + space + "/metrics/store/add-total"
	p2 := "/" + space + "/metrics/upload/add-total"
	item := func(p string, d int64) func(datamodel.ListAssembler) {
		return func(la datamodel.ListAssembler) {
			qp.ListEntry(la, qp.Map(2, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "path", qp.String(p))
				qp.MapEntry(ma, "delta", qp.Int(d))
			}))
		}
	}
	args := func(seq int64, items ...func(datamodel.ListAssembler)) datamodel.Node {
		return must(qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "seq", qp.Int(seq))
			qp.MapEntry(ma, "ts", qp.Int(1))
			qp.MapEntry(ma, "add", qp.List(int64(len(items)), func(la datamodel.ListAssembler) {
				for _, f := range items {
					f(la)
				}
			}))
		}))
	}
	seal := func(signer did.Signer, cmd string, a datamodel.Node) *ucan.Token {
		inv := &ucan.Invocation{Issuer: signer.DID(), Subject: signer.DID(), Command: cmd, Args: a, Nonce: ucan.NewNonce()}
		return must(inv.Seal(signer, ucan.SealOptions{}))
	}
	good := seal(svc, metrics.Command, args(3, item(p1, 2), item(p2, -1)))
	mi, err := metrics.ParseInvocation(good, svc.DID())
	if err != nil || mi.Seq != 3 || len(mi.Paths) != 2 || mi.Deltas[1] != -1 {
		t.Fatalf("good invocation: %+v %v", mi, err)
	}
	for _, tc := range []struct {
		name string
		tok  *ucan.Token
	}{
		{"other command", seal(svc, "/dag/put", args(3, item(p1, 1)))},
		{"other issuer", seal(machinestest.Signer(t), metrics.Command, args(3, item(p1, 1)))},
		{"no counters", seal(svc, metrics.Command, args(3))},
		{"seq 0", seal(svc, metrics.Command, args(0, item(p1, 1)))},
		{"zero delta", seal(svc, metrics.Command, args(3, item(p1, 0)))},
		{"unsorted", seal(svc, metrics.Command, args(3, item(p2, 1), item(p1, 1)))},
		{"twice", seal(svc, metrics.Command, args(3, item(p1, 1), item(p1, 1)))},
		{"not a metric path", seal(svc, metrics.Command, args(3, item("/"+space+"/store/x", 1)))},
		{"a group", seal(svc, metrics.Command, args(3, item("/"+space+"/metrics/store", 1)))},
		{"bad name", seal(svc, metrics.Command, args(3, item("/"+space+"/metrics/Store/add", 1)))},
		{"no args", seal(svc, metrics.Command, nil)},
	} {
		if _, err := metrics.ParseInvocation(tc.tok, svc.DID()); !errors.Is(err, metrics.ErrInvalidInvocation) {
			t.Errorf("%s: %v, want ErrInvalidInvocation", tc.name, err)
		} else if strings.Contains(err.Error(), "<nil>") {
			t.Errorf("%s: %q does not say what was wrong", tc.name, err)
		}
	}
}

func openEngine(t *testing.T, svc did.Signer, clock func() time.Time, noFinish bool) *dag.Engine {
	t.Helper()
	sch, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	e, err := dag.Open(context.Background(), dag.Options{KV: mem.New(), Signer: svc, Schema: sch, Clock: clock, NoFinish: noFinish,
		Collections: []dag.Collection{metrics.Machine{}.Collection()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// FuzzParseInvocation: any token bytes decode to a Command invocation or an error, never a
// panic (archived invocations are read back by replay).
func FuzzParseInvocation(f *testing.F) {
	svc, err := did.GenerateEd25519()
	if err != nil {
		f.Fatal(err)
	}
	space := "/" + svc.DID() + "/metrics/store/add-total"
	args := must(qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "seq", qp.Int(7))
		qp.MapEntry(ma, "ts", qp.Int(1))
		qp.MapEntry(ma, "add", qp.List(1, func(la datamodel.ListAssembler) {
			qp.ListEntry(la, qp.Map(2, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "path", qp.String(space))
				qp.MapEntry(ma, "delta", qp.Int(3))
			}))
		}))
	}))
	tok := must((&ucan.Invocation{Issuer: svc.DID(), Subject: svc.DID(), Command: metrics.Command, Args: args, Nonce: []byte{1}}).Seal(svc, ucan.SealOptions{}))
	f.Add(tok.Raw)
	f.Add(tok.Raw[:len(tok.Raw)/2])
	f.Fuzz(func(t *testing.T, raw []byte) {
		tok, err := ucan.Decode(raw)
		if err != nil {
			return
		}
		mi, err := metrics.ParseInvocation(tok, svc.DID())
		if err == nil && (len(mi.Paths) == 0 || len(mi.Paths) != len(mi.Deltas)) {
			t.Fatalf("parsed %+v", mi)
		}
	})
}
