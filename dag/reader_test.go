package dag_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/receipts"
)

// counters computes metrics entries on read from kv counters; names span two segments
// ("store/add-total").
type counters struct{ dag.RecordMachine }

func (counters) Read(tx *dag.Tx, p dag.Path) (dag.Path, datamodel.Node, error) {
	if len(p.Fields) == 0 {
		return dag.Path{}, nil, dag.Failf(dag.ErrNotFound.Name, "no counter %s", p.Key)
	}
	ep := p
	ep.Fields = p.Fields[:1]
	n, err := tx.Counter(p.Key + "/" + p.Fields[0])
	if err != nil {
		return dag.Path{}, nil, err
	}
	st, err := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "status", qp.String("counter"))
		qp.MapEntry(ma, "value", qp.Int(n))
	})
	return ep, st, err
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
	// The head is a receipt issued for the read, signed by the service.
	if len(res.Blocks) != 1 {
		t.Fatal("no head block")
	}
	_, r, err := receipts.Decode(res.Blocks[0].Raw)
	if err != nil || r.Path != res.Entry.Path.String() {
		t.Fatalf("head receipt %+v %v", r, err)
	}
	if res := v.get(v.path("metrics/store")); !errors.Is(res.Err, dag.ErrNotFound) {
		t.Fatalf("want NotFound, got %v", res.Err)
	}
}
