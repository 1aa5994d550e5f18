package dag_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/receipts"
)

// counters names metrics entries by two segments ("store/add-total"): stored ones are
// read with Tx.EntryAt, missing ones are computed from a kv counter.
type counters struct{ dag.RecordMachine }

func (counters) Read(tx *dag.Tx, p dag.Path) (*dag.Entry, error) {
	if len(p.Fields) == 0 {
		return nil, dag.Failf(dag.ErrNotFound.Name, "no counter %s", p.Key)
	}
	ep := p
	ep.Fields = p.Fields[:1]
	if ent, err := tx.EntryAt(ep); !errors.Is(err, dag.ErrNotFound) {
		return ent, err
	}
	n, err := tx.Counter(p.Key + "/" + p.Fields[0])
	if err != nil {
		return nil, err
	}
	return &dag.Entry{Path: ep, State: counterState(n)}, nil
}

func counterState(n int64) datamodel.Node {
	return must(qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "status", qp.String("counter"))
		qp.MapEntry(ma, "value", qp.Int(n))
	}))
}

func TestReader(t *testing.T) {
	v := newEnv(t, nil, func(o *dag.Options) {
		withMachine("metrics", counters{})(o)
	})
	ctx := context.Background()
	if err := v.e.Update(ctx, func(tx *dag.Tx) error { return tx.Add("store/add-total", 42) }); err != nil {
		t.Fatal(err)
	}
	res := v.get(v.path("metrics/store/add-total/value"))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := must(must(res.Out.Ok.LookupByString("value")).AsInt()); got != 42 {
		t.Fatalf("value %d", got)
	}
	if res.Entry.Path.Rel() != "metrics/store/add-total" {
		t.Fatalf("entry path %s", res.Entry.Path.Rel())
	}
	// The head is a receipt issued for the read, signed by the service, not stored.
	if len(res.Blocks) != 1 {
		t.Fatal("no head block")
	}
	_, r, err := receipts.Decode(res.Blocks[0].Raw)
	if err != nil || r.Path != res.Entry.Path.String() {
		t.Fatalf("head receipt %+v %v", r, err)
	}
	if _, err := v.e.Block(ctx, res.Entry.Head); !errors.Is(err, dag.ErrNotFound) {
		t.Fatalf("computed head stored: %v", err)
	}
	if res := v.get(v.path("metrics/store")); !errors.Is(res.Err, dag.ErrNotFound) {
		t.Fatalf("want NotFound, got %v", res.Err)
	}
}

// TestReaderStored writes entries named by key and field (Tx.Put with fields in a Reader
// collection): get returns the stored head, select lists them under "<key>/<field>", the
// commit log and chain name the full path, and two counters of one group are two entries.
func TestReaderStored(t *testing.T) {
	v := newEnv(t, nil, func(o *dag.Options) {
		withMachine("metrics", counters{})(o)
	})
	ctx := context.Background()
	add := v.path("metrics/store/add-total")
	size := v.path("metrics/store/add-size-total")
	for i := int64(1); i <= 3; i++ {
		err := v.e.Update(ctx, func(tx *dag.Tx) error {
			inv, err := tx.Invoke("/metrics/add", counterState(i))
			if err != nil {
				return err
			}
			if _, err := tx.Put(add, inv.CID, counterState(i)); err != nil {
				return err
			}
			_, err = tx.Put(size, inv.CID, counterState(100*i))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	res := v.get(v.path("metrics/store/add-total/value"))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := must(res.Out.Ok.LookupByString("value")); must(got.AsInt()) != 3 {
		t.Fatalf("value %d, want 3", must(got.AsInt()))
	}
	var ent *dag.Entry
	if err := v.e.View(ctx, func(tx *dag.Tx) error {
		var err error
		ent, err = tx.EntryAt(add)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !res.Entry.Head.Equals(ent.Head) || res.Entry.Path.String() != add.String() {
		t.Fatalf("get answered %s %s, stored head %s", res.Entry.Path, res.Entry.Head, ent.Head)
	}
	if n := v.verifyChain(add); n != 3 {
		t.Fatalf("chain of %d receipts, want 3", n)
	}
	sel := v.sel(v.path("metrics"), dag.Query{})
	if sel.Err != nil {
		t.Fatal(sel.Err)
	}
	var keys []string
	for _, e := range sel.Page.Entries {
		keys = append(keys, e.Path.Rel())
	}
	if want := []string{"metrics/store/add-total", "metrics/store/add-size-total"}; !slices.Equal(keys, want) {
		t.Fatalf("select listed %q, want %q", keys, want)
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(sel.Blocks[0].Raw)); err != nil {
		t.Fatal(err)
	}
	key := must(must(must(must(nb.Build().LookupByString("entries")).LookupByIndex(1)).LookupByString("key")).AsString())
	if key != "store/add-size-total" {
		t.Fatalf("page block key %q", key)
	}
	evs := must(v.e.Log(ctx, 0, 0))
	if len(evs) != 6 || evs[5].Path.String() != size.String() {
		t.Fatalf("log %+v", evs)
	}
	// Outside a Reader collection, a path with fields is not an entry.
	err := v.e.Update(ctx, func(tx *dag.Tx) error {
		_, err := tx.Put(v.path("notes/a/b"), ent.Head, counterState(1))
		return err
	})
	if !errors.Is(err, dag.ErrInvalidWrite) {
		t.Fatalf("put with fields outside a Reader collection: %v", err)
	}
}
