package dag_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/receipts"
)

type step struct {
	name    string
	op      string // put, remove, transition, get
	path    string // relative
	value   datamodel.Node
	event   string
	wantErr *dag.Error
	status  string // status of the entry after the step ("" to skip)
	wantNew bool   // a new head receipt was committed
	msg     string // substring of the error message
}

// runSteps runs steps in order, checking DESIGN §2's rules after each.
func runSteps(t *testing.T, steps []step) {
	v := newEnv(t, nil)
	ctx := context.Background()
	for _, s := range steps {
		p := v.path(s.path)
		before, _ := v.e.Entry(ctx, p)
		seq0 := must(v.e.LastSeq(ctx))
		var res *dag.Result
		var err error
		switch s.op {
		case "put":
			res = v.put(p, s.value)
		case "remove":
			res = v.remove(p)
		case "get":
			res = v.get(p)
		case "transition":
			inv := must(v.e.Invoke("/test/"+s.event, mapOf("event", s.event)))
			res, err = v.e.Transition(ctx, inv, p, s.event, nil)
			if err != nil {
				t.Fatalf("%s: transition: %v", s.name, err)
			}
		default:
			t.Fatalf("unknown op %q", s.op)
		}
		seq1 := must(v.e.LastSeq(ctx))
		after, _ := v.e.Entry(ctx, p.Entry())
		if s.wantErr != nil {
			if !errors.Is(res.Err, s.wantErr) || res.Out.Err == nil || res.Out.Err.Name != s.wantErr.Name {
				t.Fatalf("%s: want %s, got err %v out %+v", s.name, s.wantErr.Name, res.Err, res.Out)
			}
			if !strings.Contains(res.Out.Err.Message, s.msg) {
				t.Fatalf("%s: message %q does not contain %q", s.name, res.Out.Err.Message, s.msg)
			}
			if s.op != "get" {
				raw, err := v.e.Block(ctx, res.Receipt.CID)
				if err != nil {
					t.Fatalf("%s: error receipt not stored: %v", s.name, err)
				}
				_, r, err := receipts.Decode(raw)
				if err != nil || r.Out.Err == nil || r.Seq != seq0 {
					t.Fatalf("%s: stored error receipt %+v, %v (want seq %d)", s.name, r, err, seq0)
				}
			}
		} else if res.Err != nil {
			t.Fatalf("%s: unexpected failure %v", s.name, res.Err)
		}
		if _, err := receipts.Verify(res.Receipt, v.e.Service()); err != nil {
			t.Fatalf("%s: receipt does not verify: %v", s.name, err)
		}
		if s.wantNew {
			if seq1 != seq0+1 {
				t.Fatalf("%s: seq %d → %d, want one new record", s.name, seq0, seq1)
			}
			if after == nil || after.Head != res.Receipt.CID || after.Seq != seq1 {
				t.Fatalf("%s: head is not the new receipt", s.name)
			}
			r := must(receipts.Parse(res.Receipt))
			if before == nil && r.Origin != nil || before != nil && (r.Origin == nil || *r.Origin != before.Head) {
				t.Fatalf("%s: origin %v, previous head %v", s.name, r.Origin, before)
			}
			if r.Seq != seq1 || r.Path != p.Entry().String() {
				t.Fatalf("%s: receipt seq %d path %s, want %d %s", s.name, r.Seq, r.Path, seq1, p.Entry())
			}
			if _, err := v.e.Block(ctx, r.Ran); err != nil {
				t.Fatalf("%s: ran %s does not resolve: %v", s.name, r.Ran, err)
			}
		} else if seq1 != seq0 {
			t.Fatalf("%s: seq %d → %d, want no new record", s.name, seq0, seq1)
		}
		if !s.wantNew && s.wantErr == nil && s.op != "get" && before != nil && res.Receipt.CID != before.Head {
			t.Fatalf("%s: unchanged entry must return its head receipt", s.name)
		}
		if s.status != "" {
			if after == nil || after.Status != s.status {
				t.Fatalf("%s: status %v, want %q", s.name, after, s.status)
			}
		}
	}
}

func mapOf(kvs ...string) datamodel.Node {
	return must(qp.BuildMap(basicnode.Prototype.Map, int64(len(kvs)/2), func(ma datamodel.MapAssembler) {
		for i := 0; i+1 < len(kvs); i += 2 {
			qp.MapEntry(ma, kvs[i], qp.String(kvs[i+1]))
		}
	}))
}

func TestRulesRecordMachine(t *testing.T) {
	bad := must(qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "title", qp.Int(3))
	}))
	big := note(strings.Repeat("x", dag.MaxValueSize))
	runSteps(t, []step{
		{name: "remove missing", op: "remove", path: "notes/a", wantErr: dag.ErrNotFound},
		{name: "get missing", op: "get", path: "notes/a", wantErr: dag.ErrNotFound},
		{name: "new", op: "put", path: "notes/a", value: note("one"), status: "done", wantNew: true},
		{name: "same value", op: "put", path: "notes/a", value: note("one"), status: "done"},
		{name: "different value", op: "put", path: "notes/a", value: note("two"), status: "done", wantErr: dag.ErrEntryExists},
		{name: "invalid value", op: "put", path: "notes/a", value: bad, wantErr: dag.ErrInvalidValue, msg: "at /title"},
		{name: "too large", op: "put", path: "notes/b", value: big, wantErr: dag.ErrInvalidValue, msg: "limit"},
		{name: "get field", op: "get", path: "notes/a/value/title"},
		{name: "get missing field", op: "get", path: "notes/a/value/nope", wantErr: dag.ErrNotFound, msg: "nope"},
		{name: "remove", op: "remove", path: "notes/a", status: "removed", wantNew: true},
		{name: "remove removed", op: "remove", path: "notes/a", status: "removed"},
		{name: "get removed", op: "get", path: "notes/a"},
		{name: "put after remove", op: "put", path: "notes/a", value: note("two"), status: "done", wantNew: true},
		{name: "system collection", op: "put", path: "usage/x", value: note("x"), wantErr: dag.ErrReadOnlyCollection},
		{name: "unknown collection", op: "put", path: "nope/x", value: note("x"), wantErr: dag.ErrUnknownCollection},
		{name: "put with fields", op: "put", path: "notes/a/value", value: note("x"), wantErr: dag.ErrInvalidPath},
		{name: "no machine transitions", op: "transition", path: "notes/a", event: "expire", wantErr: dag.ErrInvalidTransition},
	})
}

func TestRulesStoreLike(t *testing.T) {
	a, b := carCID("a"), carCID("b")
	runSteps(t, []step{
		{name: "new", op: "put", path: "store/" + a.String(), value: storeValue(a, 10), status: "queued", wantNew: true},
		{name: "same value advances", op: "put", path: "store/" + a.String(), value: storeValue(a, 10), status: "done", wantNew: true},
		{name: "same value again", op: "put", path: "store/" + a.String(), value: storeValue(a, 10), status: "done"},
		{name: "different value", op: "put", path: "store/" + a.String(), value: storeValue(a, 11), wantErr: dag.ErrEntryExists, status: "done"},
		{name: "key mismatch", op: "put", path: "store/" + a.String(), value: storeValue(b, 11), wantErr: dag.ErrInvalidValue, msg: "not the key"},
		{name: "transition refused", op: "transition", path: "store/" + a.String(), event: "expire", wantErr: dag.ErrInvalidTransition, status: "done"},
		{name: "transition missing", op: "transition", path: "store/" + b.String(), event: "expire", wantErr: dag.ErrNotFound},
		{name: "b new", op: "put", path: "store/" + b.String(), value: storeValue(b, 5), status: "queued", wantNew: true},
		{name: "b expires", op: "transition", path: "store/" + b.String(), event: "expire", status: "expired", wantNew: true},
		{name: "b restarts after expiry", op: "put", path: "store/" + b.String(), value: storeValue(b, 5), status: "queued", wantNew: true},
		{name: "b fails", op: "transition", path: "store/" + b.String(), event: "fail", status: "failed", wantNew: true},
		{name: "b restarts after failure with another value", op: "put", path: "store/" + b.String(), value: storeValue(b, 6), status: "queued", wantNew: true},
		{name: "remove", op: "remove", path: "store/" + a.String(), status: "removed", wantNew: true},
		{name: "restart after remove", op: "put", path: "store/" + a.String(), value: storeValue(a, 10), status: "queued", wantNew: true},
	})
}

func TestRulesUploadLike(t *testing.T) {
	root, s1, s2 := rawCID("root"), carCID("s1"), carCID("s2")
	k := "upload/" + root.String()
	runSteps(t, []step{
		{name: "new", op: "put", path: k, value: uploadValue(root, s1), status: "done", wantNew: true},
		{name: "same", op: "put", path: k, value: uploadValue(root, s1), status: "done"},
		{name: "more shards is an update", op: "put", path: k, value: uploadValue(root, s2), status: "done", wantNew: true},
		{name: "subset changes nothing", op: "put", path: k, value: uploadValue(root, s1), status: "done"},
		{name: "remove", op: "remove", path: k, status: "removed", wantNew: true},
		{name: "again", op: "put", path: k, value: uploadValue(root, s1), status: "done", wantNew: true},
	})
}
