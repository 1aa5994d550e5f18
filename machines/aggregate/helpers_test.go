package aggregate_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/task"
	commp "github.com/w3dag/w3dag/piece"
	"github.com/w3dag/w3dag/receipts"
)

// env is an engine with the task, piece and aggregate collections (the piece machine
// telling the aggregate machine of computed pieces) and a task runner with the include
// handler.
type env struct {
	t      *testing.T
	m      *aggregate.Machine
	v      *machinestest.Env
	e      *dag.Engine
	runner *task.Runner
	svc    string
}

func newEnv(t *testing.T, b aggregate.Bounds) *env {
	t.Helper()
	m, err := aggregate.New(b)
	if err != nil {
		t.Fatal(err)
	}
	cols := []dag.Collection{task.Collection(), piece.Machine{Aggregator: m}.Collection(), m.Collection(), metrics.Machine{}.Collection()}
	v := machinestest.Open(t, mem.New(), nil, cols, nil)
	r := task.NewRunner(v.E, m.Handlers(v.E, nil), task.RunnerOptions{Lease: time.Minute, BaseBackoff: time.Second, MaxBackoff: time.Second, MaxAttempts: 3})
	return &env{t: t, m: m, v: v, e: v.E, runner: r, svc: v.E.Service()}
}

// pieceOf returns a random v2 piece of padded size 128·2^k (its payload the full
// capacity minus padding bytes).
func pieceOf(rng *rand.Rand, padded uint64, padding uint64) commp.Piece {
	h := 0
	for uint64(commp.NodeSize)<<h < padded {
		h++
	}
	var root [commp.NodeSize]byte
	for i := range root {
		root[i] = byte(rng.IntN(256))
	}
	root[commp.NodeSize-1] &= 0x3F
	return commp.Piece{Size: padded/128*127 - padding, Height: h, Root: root}
}

// computed is a piece the test moved to computed: its CAR, its piece, the computed receipt.
type computed struct {
	content cid.Cid
	piece   commp.Piece
	head    cid.Cid
}

// compute writes a queued piece entry for a random CAR (without the compute task
// piece.Queue would schedule: the test is the computation) and moves it to computed with
// pc through Engine.Transition, as the compute task does.
func (v *env) compute(pc commp.Piece) computed { return v.computeMD5(pc, nil) }

// computeMD5 is compute with sum as the md5 the computed event carries (nil: none, as
// events recorded before md5 was hashed with commP).
func (v *env) computeMD5(pc commp.Piece, sum []byte) computed {
	v.t.Helper()
	ctx := context.Background()
	content := machinestest.CAR(v.t)
	if err := v.e.Update(ctx, func(tx *dag.Tx) error {
		cause, err := tx.Invoke("/test/cause", nil)
		if err != nil {
			return err
		}
		queued, _ := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, dag.StatusKey, qp.String(piece.StatusQueued))
		})
		_, err = tx.Put(piece.Path(tx.Service(), content), cause.CID, queued)
		return err
	}); err != nil {
		v.t.Fatal(err)
	}
	inv, err := v.e.Invoke(piece.ComputeCommand, nil)
	if err != nil {
		v.t.Fatal(err)
	}
	data, _ := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "piece", qp.Link(cidlink.Link{Cid: pc.CID()}))
		if sum != nil {
			qp.MapEntry(ma, "md5", qp.Bytes(sum))
		}
	})
	res, err := v.e.Transition(ctx, inv, piece.Path(v.svc, content), piece.EventComputed, data)
	if err != nil {
		v.t.Fatal(err)
	}
	if res.Err != nil {
		v.t.Fatal(res.Err)
	}
	return computed{content: content, piece: pc, head: res.Receipt.CID}
}

// run runs due tasks until none is left.
func (v *env) run() {
	v.t.Helper()
	for range 100 {
		n, err := v.runner.RunOnce(context.Background())
		if err != nil {
			v.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	v.t.Fatal("tasks keep coming")
}

// aggregates returns the aggregate entries in key order.
func (v *env) aggregates() []*dag.Entry {
	v.t.Helper()
	var out []*dag.Entry
	for n := uint64(1); ; n++ {
		e, err := v.e.Entry(context.Background(), aggregate.Path(v.svc, aggregate.Key(n)))
		if err != nil {
			return out
		}
		out = append(out, e)
	}
}

func (v *env) entry(p dag.Path) *dag.Entry {
	v.t.Helper()
	e, err := v.e.Entry(context.Background(), p)
	if err != nil {
		v.t.Fatal(err)
	}
	return e
}

// command returns the command of the stored invocation inv.
func (v *env) command(inv cid.Cid) string {
	v.t.Helper()
	tok, err := v.e.Receipt(context.Background(), inv)
	if err != nil || tok.Invocation == nil {
		v.t.Fatalf("%s is not a stored invocation: %v", inv, err)
	}
	return tok.Invocation.Command
}

// task returns the task of the stored invocation inv.
func (v *env) task(inv cid.Cid) cid.Cid {
	v.t.Helper()
	tok, err := v.e.Receipt(context.Background(), inv)
	if err != nil || tok.Invocation == nil {
		v.t.Fatalf("%s is not a stored invocation: %v", inv, err)
	}
	task, err := tok.Invocation.Task()
	if err != nil {
		v.t.Fatal(err)
	}
	return task
}

func (v *env) receipt(c cid.Cid) *receipts.Receipt {
	v.t.Helper()
	tok, err := v.e.Receipt(context.Background(), c)
	if err != nil {
		v.t.Fatal(err)
	}
	r, err := receipts.Parse(tok)
	if err != nil {
		v.t.Fatal(err)
	}
	return r
}

func members(t *testing.T, e *dag.Entry) []cid.Cid {
	t.Helper()
	ms, err := aggregate.Members(e.State)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func sizeOf(t *testing.T, e *dag.Entry) uint64 {
	t.Helper()
	n, err := e.State.LookupByString("size")
	if err != nil {
		t.Fatal(err)
	}
	i, err := n.AsInt()
	if err != nil {
		t.Fatal(err)
	}
	return uint64(i)
}

// wantMetric checks the service's counter name.
func (v *env) wantMetric(name string, want int64) {
	v.t.Helper()
	got, err := metrics.Value(context.Background(), v.e, v.svc, name)
	if err != nil {
		v.t.Fatal(err)
	}
	if got != want {
		v.t.Fatalf("metric %s = %d, want %d", name, got, want)
	}
}
