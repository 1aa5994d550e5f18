package dag_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/receipts"
)

// counting writes a metrics entry of the space and a counter in the same transaction as
// every start, through a self-issued invocation.
type counting struct{ dag.RecordMachine }

func (c counting) Start(tx *dag.Tx, p dag.Path, in datamodel.Node, prev *dag.Entry) (datamodel.Node, error) {
	if err := tx.Add("notes/add-total", 1); err != nil {
		return nil, err
	}
	n, err := tx.Counter("notes/add-total")
	if err != nil {
		return nil, err
	}
	inv, err := tx.Invoke("/metrics/add", must(qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "cause", qp.String(tx.Invocation().CID.String()))
	})))
	if err != nil {
		return nil, err
	}
	mp := dag.Path{Subject: p.Subject, Collection: "metrics", Key: "notes-add-total"}
	st := must(qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "status", qp.String("counter"))
		qp.MapEntry(ma, "value", qp.Int(n))
	}))
	if _, err := tx.Put(mp, inv.CID, st); err != nil {
		return nil, err
	}
	return c.RecordMachine.Start(tx, p, in, prev)
}

func TestSystemWrites(t *testing.T) {
	now := time.UnixMilli(1700000000000)
	v := newEnv(t, nil, func(o *dag.Options) {
		withMachine("notes", counting{})(o)
		o.Clock = func() time.Time { return now }
	})
	ctx := context.Background()
	v.put(v.path("notes/a"), note("a"))
	v.put(v.path("notes/b"), note("b"))
	mp := v.path("metrics/notes-add-total")
	ent := must(v.e.Entry(ctx, mp))
	if got := must(must(ent.State.LookupByString("value")).AsInt()); got != 2 {
		t.Fatalf("metric %d", got)
	}
	if n := v.verifyChain(mp); n != 2 {
		t.Fatalf("metric chain %d", n)
	}
	r := must(receipts.Parse(must(v.e.Receipt(ctx, ent.Head))))
	if r.TS != now.UnixMilli() {
		t.Fatalf("ts %d", r.TS)
	}
	// Each put committed two records (metric, then note), without gaps.
	evs := must(v.e.Log(ctx, 0, 0))
	if len(evs) != 4 || evs[0].Path.Collection != "metrics" || evs[1].Path.Key != "a" {
		t.Fatalf("log %+v", evs)
	}
	// The agent may read but not write the system collection.
	res := v.put(mp, note("x"))
	if !errors.Is(res.Err, dag.ErrReadOnlyCollection) {
		t.Fatalf("agent write to metrics: %v", res.Err)
	}
	if g := v.get(mp); g.Err != nil || g.Entry.Head != ent.Head {
		t.Fatalf("get metric: %v", g.Err)
	}
}

func TestGetFields(t *testing.T) {
	v := newEnv(t, nil)
	p := v.path("notes/g")
	val := must(qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "title", qp.String("T"))
		qp.MapEntry(ma, "tags", qp.List(2, func(la datamodel.ListAssembler) {
			qp.ListEntry(la, qp.String("x"))
			qp.ListEntry(la, qp.String("y"))
		}))
	}))
	put := v.put(p, val)
	for _, tc := range []struct {
		fields string
		want   string
	}{
		{"/value/title", "T"},
		{"/value/tags/1", "y"},
		{"/status", "done"},
	} {
		res := v.get(v.path("notes/g" + tc.fields))
		if res.Err != nil {
			t.Fatalf("%s: %v", tc.fields, res.Err)
		}
		got := must(must(res.Out.Ok.LookupByString("value")).AsString())
		if got != tc.want {
			t.Fatalf("%s: %q", tc.fields, got)
		}
		if len(res.Blocks) != 1 || res.Blocks[0].CID != put.Receipt.CID {
			t.Fatalf("%s: head block missing", tc.fields)
		}
	}
	for _, bad := range []string{"/value/tags/9", "/value/tags/x", "/value/title/deeper", "/nope"} {
		if res := v.get(v.path("notes/g" + bad)); !errors.Is(res.Err, dag.ErrNotFound) {
			t.Fatalf("%s: %v", bad, res.Err)
		}
	}
}

func TestFailAndReply(t *testing.T) {
	v := newEnv(t, nil)
	ctx := context.Background()
	p := v.path("notes/f")
	inv := v.inv(v.agent, v.space, "/dag/put", pathArgs(p, note("x")))
	msg := carCID("message")
	res := must(v.e.Fail(ctx, inv, dag.Failf("InvalidClaim", "no proof"), dag.WithMessage(msg)))
	if res.Out.Err == nil || res.Out.Err.Name != "InvalidClaim" {
		t.Fatalf("%+v", res.Out)
	}
	if _, err := v.e.Block(ctx, res.Receipt.CID); err != nil {
		t.Fatal("failure receipt not stored")
	}
	// Not recorded as the task's result: the task can still run.
	if put := must(v.e.Put(ctx, inv, p, note("x"), dag.WithMessage(msg))); put.Repeat || put.Err != nil {
		t.Fatalf("put after Fail: %+v", put)
	}
	if err := v.e.RecordReply(ctx, msg, []cid.Cid{inv.CID}); err != nil {
		t.Fatal(err)
	}
	err := v.kv.View(ctx, func(kt kv.Tx) error {
		for _, k := range []string{"invocation/" + inv.CID.String() + "/" + msg.String() + ".in", "invocation/" + inv.CID.String() + "/" + msg.String() + ".out"} {
			if _, err := kt.Get([]byte(k)); err != nil {
				return errors.New(k + ": " + err.Error())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// badWriter writes what its key asks for: an unknown collection, a non-canonical key, a
// state without status.
type badWriter struct{ dag.RecordMachine }

func (badWriter) Start(tx *dag.Tx, p dag.Path, in datamodel.Node, prev *dag.Entry) (datamodel.Node, error) {
	switch p.Key {
	case "unknown-collection":
		_, err := tx.Put(dag.Path{Subject: p.Subject, Collection: "nope", Key: "x"}, tx.Invocation().CID, statusNode("done"))
		return nil, err
	case "bad-key":
		_, err := tx.Put(dag.Path{Subject: tx.Service(), Collection: "carwhere", Key: "not-a-cid"}, tx.Invocation().CID, statusNode("located"))
		return nil, err
	case "no-status":
		return basicnode.NewString("x"), nil
	case "control-status":
		return statusNode("a\x00b"), nil
	}
	return statusNode("done"), nil
}

func TestInvalidWrites(t *testing.T) {
	v := newEnv(t, nil, withMachine("notes", badWriter{}))
	ctx := context.Background()
	for _, k := range []string{"unknown-collection", "bad-key", "no-status", "control-status"} {
		p := v.path("notes/" + k)
		_, err := v.e.Put(ctx, v.inv(v.agent, v.space, "/dag/put", pathArgs(p, note(k))), p, note(k))
		if err == nil || dag.ErrorName(err) != "" {
			t.Errorf("%s: want an internal error, got %v", k, err)
		}
		if !errors.Is(err, dag.ErrInvalidWrite) && !errors.Is(err, dag.ErrInvalidState) {
			t.Errorf("%s: %v", k, err)
		}
	}
	if seq := must(v.e.LastSeq(ctx)); seq != 0 {
		t.Fatalf("seq %d after failed writes", seq)
	}
}

func TestNonCanonicalPath(t *testing.T) {
	v := newEnv(t, nil)
	c := carCID("nc")
	p := dag.Path{Subject: v.space, Collection: "store", Key: must(c.StringOfBase('z'))}
	res := v.put(p, storeValue(c, 1))
	if !errors.Is(res.Err, dag.ErrInvalidPath) {
		t.Fatalf("non-canonical key: %v", res.Err)
	}
	p = dag.Path{Subject: v.space, Collection: "notes", Key: "a/b"}
	if res := v.put(p, note("x")); !errors.Is(res.Err, dag.ErrInvalidPath) {
		t.Fatalf("key with a slash: %v", res.Err)
	}
}

func TestStateTooLargeForReceipt(t *testing.T) {
	v := newEnv(t, nil)
	root := rawCID("big")
	var shards []cid.Cid
	for i := range 1700 {
		shards = append(shards, carCID(fmt.Sprint("shard", i)))
	}
	p := v.path("upload/" + root.String())
	res := v.put(p, uploadValue(root, shards...))
	if !errors.Is(res.Err, dag.ErrInvalidValue) || !strings.Contains(res.Out.Err.Message, "receipt") {
		t.Fatalf("want InvalidValue, got %v", res.Err)
	}
	if _, err := v.e.Entry(context.Background(), p); !errors.Is(err, dag.ErrNotFound) {
		t.Fatal("entry written")
	}
	// Other operations are unaffected.
	if res := v.put(v.path("notes/fine"), note("x")); res.Err != nil {
		t.Fatal(res.Err)
	}
}
