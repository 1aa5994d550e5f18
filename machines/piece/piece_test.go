package piece_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/bolt"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/store"
	"github.com/w3dag/w3dag/machines/task"
	commp "github.com/w3dag/w3dag/piece"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// wantPiece checks that the piece entry of c is computed with the piece CID that
// piece.Compute gives for c's bytes, in a chain queued → computed, and returns it.
func (v *env) wantPiece(c car) *dag.Entry {
	v.t.Helper()
	want, err := commp.Compute(bytes.NewReader(c.data))
	if err != nil {
		v.t.Fatal(err)
	}
	e := v.entry(v.piecePath(c))
	if e.Status != piece.StatusComputed {
		v.t.Fatalf("piece of %s is %s", c.cid, e.Status)
	}
	got, err := piece.Computed(e.State)
	if err != nil || !got.Equals(want.CID()) {
		v.t.Fatalf("piece of %s is %s (%v), piece.Compute says %s", c.cid, got, err, want.CID())
	}
	if ch := v.chain(e.Head); len(ch) != 2 || ch[0] != piece.StatusComputed || ch[1] != piece.StatusQueued {
		v.t.Fatalf("piece chain %v", ch)
	}
	// The index leads from the piece CID back to the CAR.
	if content, err := piece.Content(context.Background(), v.v.E, got); err != nil || !content.Equals(c.cid) {
		v.t.Fatalf("piece.Content(%s) = %s, %v; want %s", got, content, err, c.cid)
	}
	// ... and holds the CAR's md5, hashed in the same pass as the commP.
	sum := md5.Sum(c.data)
	if ix, err := piece.Lookup(context.Background(), v.v.E, got); err != nil || !bytes.Equal(ix.MD5, sum[:]) {
		v.t.Fatalf("piece.Lookup(%s) = %+v, %v; want md5 %x", got, ix, err, sum)
	}
	return e
}

// TestLookupIndexValues reads index values as written before md5 was kept (the CAR CID
// alone: no md5, the caller computes it), as written now (CID ‖ md5), and broken ones.
func TestLookupIndexValues(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t, nil, "")
	c := newCAR(t, 7, 300)
	pc, err := commp.Compute(bytes.NewReader(c.data))
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(c.data)
	for _, tc := range []struct {
		name    string
		value   []byte
		wantMD5 []byte
		wantErr error
	}{
		{"old: CID only", c.cid.Bytes(), nil, nil},
		{"CID and md5", append(c.cid.Bytes(), sum[:]...), sum[:], nil},
		{"CID and a short md5", append(c.cid.Bytes(), sum[:15]...), nil, piece.ErrCorrupt},
		{"CID and too much", append(c.cid.Bytes(), make([]byte, 17)...), nil, piece.ErrCorrupt},
		{"no CID", []byte{0xff, 0xff}, nil, piece.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := v.v.E.Update(ctx, func(tx *dag.Tx) error {
				kt, err := tx.KV(piece.IndexPrefix)
				if err != nil {
					return err
				}
				return kt.Put([]byte(piece.IndexPrefix+pc.CID().String()), tc.value)
			}); err != nil {
				t.Fatal(err)
			}
			ix, err := piece.Lookup(ctx, v.v.E, pc.CID())
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Lookup: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || !ix.Content.Equals(c.cid) || !bytes.Equal(ix.MD5, tc.wantMD5) {
				t.Fatalf("Lookup = %+v, %v; want %s md5 %x", ix, err, c.cid, tc.wantMD5)
			}
		})
	}
}

// TestOnePiecePerCAR stores CARs by every path to done — bytes already held, a same-value
// put that finds them, an upload's delivery — some in several spaces: each CAR gets one
// piece and one compute task, named in the fx of the first done receipt only, and the
// task's receipts lead to the computed piece.
func TestOnePiecePerCAR(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t, nil, "")
	a, b, s3 := machinestest.Signer(t), machinestest.Signer(t), machinestest.Signer(t)
	held, found, uploaded := newCAR(t, 1, 5000), newCAR(t, 2, 100), newCAR(t, 3, 70000)
	// A piece CID no CAR has computed is unknown to the index.
	unknown, err := commp.Compute(bytes.NewReader([]byte("no CAR has this piece")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := piece.Content(ctx, v.v.E, unknown.CID()); !errors.Is(err, piece.ErrUnknownPiece) {
		t.Fatalf("piece.Content of an unknown piece: %v, want ErrUnknownPiece", err)
	}

	// Bytes already held: done at once, in two spaces.
	v.hold(held)
	ra, rb := v.put(a, held), v.put(b, held)
	if ra.Entry.Status != store.StatusDone || rb.Entry.Status != store.StatusDone {
		t.Fatalf("statuses %s %s", ra.Entry.Status, rb.Entry.Status)
	}
	fxa := v.fx(ra.Receipt)
	if len(fxa) != 1 {
		t.Fatalf("first done receipt fx %v, want the compute task", fxa)
	}
	if f := v.fx(rb.Receipt); len(f) != 0 {
		t.Fatalf("second space's done receipt fx %v, want none", f)
	}
	inv, err := v.v.E.Receipt(ctx, fxa[0])
	if err != nil || inv.Invocation == nil || inv.Invocation.Command != piece.ComputeCommand {
		t.Fatalf("fx names %v (%v)", inv, err)
	}
	if st := v.entry(v.piecePath(held)).Status; st != piece.StatusQueued {
		t.Fatalf("piece before the task: %s", st)
	}
	if st := v.taskEntry(fxa[0]).Status; st != task.StatusQueued {
		t.Fatalf("task: %s", st)
	}

	// Pending, then the bytes appear at the key (S3 style) and a same-value put finds them.
	rp := v.put(a, found)
	if rp.Entry.Status != store.StatusPending || len(v.fx(rp.Receipt)) != 0 {
		t.Fatalf("pending put: %s, fx %v", rp.Entry.Status, v.fx(rp.Receipt))
	}
	if _, err := v.v.E.Entry(ctx, v.piecePath(found)); !errors.Is(err, dag.ErrNotFound) {
		t.Fatalf("piece of a pending CAR: %v", err)
	}
	v.hold(found)
	rf := v.put(a, found)
	if rf.Entry.Status != store.StatusDone || len(v.fx(rf.Receipt)) != 1 {
		t.Fatalf("same-value put: %s, fx %v", rf.Entry.Status, v.fx(rf.Receipt))
	}
	if f := v.fx(v.put(b, found).Receipt); len(f) != 0 {
		t.Fatalf("second space: fx %v", f)
	}

	// Pending in two spaces, then uploaded: both delivered, one task.
	pa, pb := v.put(a, uploaded), v.put(s3, uploaded)
	v.upload(pa.Entry.State, uploaded)
	da, db := v.entry(storePath(a, uploaded.cid)), v.entry(storePath(s3, uploaded.cid))
	if da.Status != store.StatusDone || db.Status != store.StatusDone {
		t.Fatalf("after upload %s %s (%s)", da.Status, db.Status, pb.Entry.Status)
	}
	var fxu []cid.Cid
	for _, e := range []*dag.Entry{da, db} {
		tok, err := v.v.E.Receipt(ctx, e.Head)
		if err != nil {
			t.Fatal(err)
		}
		fxu = append(fxu, v.fx(tok)...)
	}
	if len(fxu) != 1 {
		t.Fatalf("delivery receipts fx %v, want one task between them", fxu)
	}
	if n := v.computeTasks(); n != 3 {
		t.Fatalf("%d compute tasks for 3 CARs", n)
	}

	v.runOnce(3)
	v.runOnce(0)
	for _, c := range []car{held, found, uploaded} {
		v.wantPiece(c)
	}
	if n := v.blobs.Gets(); n != 3 {
		t.Fatalf("%d blob reads for 3 pieces", n)
	}

	// The chain from the store receipt: fx → the task → its result, the computed piece.
	pe := v.entry(v.piecePath(held))
	tinv, err := inv.Invocation.Task()
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.v.E.TaskResult(ctx, tinv)
	if err != nil || !res.Equals(pe.Head) {
		t.Fatalf("task result %s (%v), piece head %s", res, err, pe.Head)
	}
	head, err := v.v.E.Receipt(ctx, pe.Head)
	if err != nil {
		t.Fatal(err)
	}
	hr, err := receipts.Verify(head, v.v.E.Service())
	if err != nil {
		t.Fatal(err)
	}
	if !hr.Ran.Equals(fxa[0]) {
		t.Fatalf("computed receipt ran %s, want the task %s", hr.Ran, fxa[0])
	}
	te := v.taskEntry(fxa[0])
	if te.Status != task.StatusDone {
		t.Fatalf("task %s", te.Status)
	}
	if r, err := te.State.LookupByString("receipt"); err != nil || mustLink(t, r) != pe.Head {
		t.Fatalf("task done state %v", te.State)
	}
	// The queued receipt was caused by the store operation.
	var first *receipts.Receipt
	if err := v.v.E.Chain(ctx, pe.Head, func(_ *ucan.Token, r *receipts.Receipt) error { first = r; return nil }); err != nil {
		t.Fatal(err)
	}
	if !first.Ran.Equals(mustRan(t, ra)) {
		t.Fatalf("queued receipt ran %s", first.Ran)
	}

	// A CAR stored again after a removal keeps its one piece.
	machinestest.MustOK(t, v.v.Remove(a, storePath(a, held.cid)))
	again := v.put(a, held)
	if f := v.fx(again.Receipt); again.Entry.Status != store.StatusDone || len(f) != 0 {
		t.Fatalf("re-store: %s fx %v", again.Entry.Status, f)
	}
	v.runOnce(0)
	v.wantPiece(held)
	if _, err := machinestest.ValidateStates(ctx, v.v.E); err != nil {
		t.Fatal(err)
	}
}

func mustLink(t testing.TB, n datamodel.Node) cid.Cid {
	t.Helper()
	l, err := n.AsLink()
	if err != nil {
		t.Fatal(err)
	}
	return l.(cidlink.Link).Cid
}

// mustRan is the invocation a result's receipt ran.
func mustRan(t testing.TB, res *dag.Result) cid.Cid {
	t.Helper()
	r, err := receipts.Parse(res.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	return r.Ran
}

// TestRestartMidComputation stops the process while the handler streams the blob: the
// engine closes under it, nothing of the computation is recorded, and after a restart
// over the same bolt file the task is claimed again once its lease expired and computes
// the piece once. A later run of the handler finds the piece computed and reads nothing.
func TestRestartMidComputation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "kv.db")
	st, err := bolt.Open(file, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := newEnv(t, st, dir)
	s, c := machinestest.Signer(t), newCAR(t, 7, 40000)
	v.hold(c)
	taskInv := v.fx(v.put(s, c).Receipt)[0]

	release := make(chan struct{})
	started := make(chan struct{}, 1)
	v.blobs.set(func(g *gatedBlobs) { g.block, g.started = release, started })
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- v.runner.Run(runCtx) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never read the blob")
	}
	if st := v.taskEntry(taskInv).Status; st != task.StatusRunning {
		t.Fatalf("task while computing: %s", st)
	}
	// The crash: the store goes away under the handler, then everything stops.
	if err := v.v.E.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	stop()
	close(release)
	if err := <-ran; err != nil && !errors.Is(err, dag.ErrClosed) {
		t.Fatalf("Run: %v", err)
	}

	st2, err := bolt.Open(file, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	v.blobs.set(func(g *gatedBlobs) { g.block, g.started, g.gets = nil, nil, 0 })
	v.open(st2)
	if st := v.entry(v.piecePath(c)).Status; st != piece.StatusQueued {
		t.Fatalf("piece after the crash: %s", st)
	}
	if st := v.taskEntry(taskInv).Status; st != task.StatusRunning {
		t.Fatalf("task after the crash: %s", st)
	}
	v.runOnce(0) // the lease still holds
	v.clock.Add(runnerOptions.Lease)
	v.runOnce(1)
	v.wantPiece(c)
	if n := v.blobs.Gets(); n != 1 {
		t.Fatalf("%d blob reads after the restart", n)
	}
	if st := v.taskEntry(taskInv).Status; st != task.StatusDone {
		t.Fatalf("task: %s", st)
	}
	v.clock.Add(time.Hour)
	v.runOnce(0)

	// A run after the transition committed (a crash before the runner recorded done)
	// finds the piece computed: no read, no new receipt.
	head := v.entry(v.piecePath(c)).Head
	inv, err := v.v.E.Receipt(ctx, taskInv)
	if err != nil {
		t.Fatal(err)
	}
	if err := piece.ComputeHandler(v.v.E, v.blobs, nil)(ctx, inv); err != nil {
		t.Fatalf("handler on a computed piece: %v", err)
	}
	if n := v.blobs.Gets(); n != 1 {
		t.Fatalf("the handler read a computed piece's blob (%d reads)", n)
	}
	if h := v.entry(v.piecePath(c)).Head; h != head {
		t.Fatalf("head moved %s → %s", head, h)
	}
	// Computed once across the crash and the repeated run: counted once.
	if n, err := metrics.Value(ctx, v.v.E, v.v.E.Service(), metrics.PieceComputedTotal); err != nil || n != 1 {
		t.Fatalf("%s = %d (%v), want 1", metrics.PieceComputedTotal, n, err)
	}
}

// TestFailingRead fails the blob reads: the task is retried with the runner's backoff,
// the entry stays queued, and the piece is computed once reads work again.
func TestFailingRead(t *testing.T) {
	v := newEnv(t, nil, "")
	s, c := machinestest.Signer(t), newCAR(t, 9, 3000)
	v.hold(c)
	taskInv := v.fx(v.put(s, c).Receipt)[0]
	v.blobs.set(func(g *gatedBlobs) { g.fail = errDiskGone })
	attempts := func() int64 {
		n, err := v.taskEntry(taskInv).State.LookupByString("attempts")
		if err != nil {
			return 0
		}
		i, _ := n.AsInt()
		return i
	}
	runner := task.NewRunner(v.v.E, nil, runnerOptions) // only for Backoff
	for attempt := int64(1); attempt <= 3; attempt++ {
		v.runOnce(1)
		te := v.taskEntry(taskInv)
		if te.Status != task.StatusQueued || attempts() != attempt {
			t.Fatalf("after attempt %d: task %s with %d attempts", attempt, te.Status, attempts())
		}
		if st := v.entry(v.piecePath(c)).Status; st != piece.StatusQueued {
			t.Fatalf("piece after a failed read: %s", st)
		}
		wait := runner.Backoff(attempt)
		v.clock.Add(wait - time.Millisecond)
		v.runOnce(0)
		v.clock.Add(time.Millisecond)
	}
	if n := v.blobs.Gets(); n != 3 {
		t.Fatalf("%d reads in 3 attempts", n)
	}
	v.blobs.set(func(g *gatedBlobs) { g.fail = nil })
	v.runOnce(1)
	v.wantPiece(c)
	if st := v.taskEntry(taskInv).Status; st != task.StatusDone {
		t.Fatalf("task %s", st)
	}
}

// TestMismatch replaces the bytes at the blob key with others of the same size: the task
// fails for good without a retry and the piece stays queued.
func TestMismatch(t *testing.T) {
	v := newEnv(t, nil, "")
	s, c := machinestest.Signer(t), newCAR(t, 11, 2000)
	v.hold(c)
	taskInv := v.fx(v.put(s, c).Receipt)[0]
	other := newCAR(t, 12, 2000)
	other.cid = c.cid
	if err := v.fs.Put(context.Background(), carwhere.BlobKey(c.cid), bytes.NewReader(other.data), blob.PutOptions{Size: int64(len(other.data))}); err != nil {
		t.Fatal(err)
	}
	v.runOnce(1)
	te := v.taskEntry(taskInv)
	if te.Status != task.StatusFailed {
		t.Fatalf("task %s", te.Status)
	}
	if msg, _ := te.State.LookupByString("error"); msg == nil || !bytes.Contains([]byte(mustString(t, msg)), []byte("not the CAR's")) {
		t.Fatalf("task error %v", msg)
	}
	if st := v.entry(v.piecePath(c)).Status; st != piece.StatusQueued {
		t.Fatalf("piece %s", st)
	}
	v.clock.Add(time.Hour)
	v.runOnce(0)
}

func mustString(t testing.TB, n datamodel.Node) string {
	t.Helper()
	s, err := n.AsString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMachine checks the machine's own rules: a service put queues a piece with its task
// in fx, a different value is EntryExists, remove is refused, computed applies once, and
// a computed event must carry a v2 piece CID.
func TestMachine(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t, nil, "")
	c := newCAR(t, 13, 1000)
	v.hold(c)
	p := v.piecePath(c)
	value := func(size int64) datamodel.Node {
		n, _ := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "content", qp.Link(cidlink.Link{Cid: c.cid}))
			qp.MapEntry(ma, "size", qp.Int(size))
		})
		return n
	}
	// Agents may not write pieces.
	agent := machinestest.Signer(t)
	if res := v.v.Put(agent, machinestest.Path(v.v.E.Service(), piece.Name, c.cid.String()), value(1000)); res.Err == nil {
		t.Fatal("an agent queued a piece")
	}
	put := func(n datamodel.Node) *dag.Result {
		t.Helper()
		inv := machinestest.Invocation(t, v.v.Service, "/dag/put", p, n)
		res, err := v.v.E.Put(ctx, inv, p, n)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := machinestest.MustOK(t, put(value(1000)))
	if res.Entry.Status != piece.StatusQueued || len(v.fx(res.Receipt)) != 1 {
		t.Fatalf("service put: %s fx %v", res.Entry.Status, v.fx(res.Receipt))
	}
	if res := put(value(1001)); !errors.Is(res.Err, dag.ErrEntryExists) {
		t.Fatalf("another value: %v", res.Err)
	}
	rm, err := v.v.E.Remove(ctx, machinestest.Invocation(t, v.v.Service, "/dag/remove", p, nil), p)
	if err != nil || !errors.Is(rm.Err, dag.ErrInvalidTransition) {
		t.Fatalf("remove: %v %v", err, rm.Err)
	}
	// The store's Queue leaves the existing entry alone.
	if err := v.v.E.Update(ctx, func(tx *dag.Tx) error {
		tk, err := piece.Queue(tx, res.Receipt.CID, c.cid, 1000)
		if err != nil {
			return err
		}
		if tk.Defined() {
			t.Errorf("Queue scheduled a second task %s", tk)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A computed event with something else than a v2 piece CID.
	transition := func(data datamodel.Node) *dag.Result {
		t.Helper()
		inv, err := v.v.E.Invoke("/piece/test", data)
		if err != nil {
			t.Fatal(err)
		}
		r, err := v.v.E.Transition(ctx, inv, p, piece.EventComputed, data)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	pieceData := func(l cid.Cid) datamodel.Node {
		n, _ := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "piece", qp.Link(cidlink.Link{Cid: l}))
		})
		return n
	}
	if r := transition(pieceData(c.cid)); !errors.Is(r.Err, dag.ErrInvalidValue) {
		t.Fatalf("computed with a CAR CID: %v", r.Err)
	}
	computedTotal := func(want int64) {
		t.Helper()
		got, err := metrics.Value(ctx, v.v.E, v.v.E.Service(), metrics.PieceComputedTotal)
		if err != nil || got != want {
			t.Fatalf("%s = %d (%v), want %d", metrics.PieceComputedTotal, got, err, want)
		}
	}
	computedTotal(0) // the refused transition counted nothing
	v.runOnce(1)
	e := v.wantPiece(c)
	computedTotal(1)
	// Computed again with another piece: left as is.
	other, err := commp.Compute(bytes.NewReader([]byte("something else entirely, long enough")))
	if err != nil {
		t.Fatal(err)
	}
	if r := transition(pieceData(other.CID())); r.Err != nil || r.Entry.Head != e.Head {
		t.Fatalf("second computed: %v, head %v", r.Err, r.Entry)
	}
	computedTotal(1) // nothing changed, nothing counted
	inv, err := v.v.E.Invoke("/piece/test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := v.v.E.Transition(ctx, inv, p, "aggregated", nil); err != nil || !errors.Is(r.Err, dag.ErrInvalidTransition) {
		t.Fatalf("unknown event: %v %v", err, r.Err)
	}
}

// TestFailedTaskRequeued: a piece whose compute task failed for good (its retries ran out
// while the blob store was down) stays queued, and the next store of the CAR (by any
// space) queues it again with a new task, listed in that store's fx, which computes it.
func TestFailedTaskRequeued(t *testing.T) {
	v := newEnv(t, nil, "")
	s, c := machinestest.Signer(t), newCAR(t, 9, 3000)
	v.hold(c)
	first := v.fx(v.put(s, c).Receipt)[0]
	v.blobs.set(func(g *gatedBlobs) { g.fail = errDiskGone })
	for i := 0; i < runnerOptions.MaxAttempts; i++ {
		v.runOnce(1)
		v.clock.Add(time.Hour)
	}
	if st := v.taskEntry(first).Status; st != task.StatusFailed {
		t.Fatalf("task is %s after %d failed attempts, want failed", st, runnerOptions.MaxAttempts)
	}
	if st := v.entry(v.piecePath(c)).Status; st != piece.StatusQueued {
		t.Fatalf("piece is %s, want queued", st)
	}
	v.blobs.set(func(g *gatedBlobs) { g.fail = nil })
	again := v.fx(v.put(machinestest.Signer(t), c).Receipt)
	if len(again) != 1 || again[0] == first {
		t.Fatalf("the second store's fx %v, want one new task", again)
	}
	v.clock.Add(time.Hour)
	v.runOnce(1)
	if st := v.entry(v.piecePath(c)).Status; st != piece.StatusComputed {
		t.Fatalf("piece is %s after the new task ran, want computed", st)
	}
	// Computed: a third store schedules nothing.
	if got := v.fx(v.put(machinestest.Signer(t), c).Receipt); len(got) != 0 {
		t.Fatalf("a store after the piece was computed has fx %v", got)
	}
}

// TestUploadComputesPiece: with Staged given to the upload endpoint and the store
// machine, the piece is computed while the bytes are uploaded, the delivery's compute
// task carries it, and the task records it without reading the CAR; the md5 is hashed
// in that pass only when Staged asks for it. Bytes held without an upload (a client put
// that finds them) are still read back by the task.
func TestUploadComputesPiece(t *testing.T) {
	for _, withMD5 := range []bool{true, false} {
		t.Run(map[bool]string{true: "md5", false: "no md5"}[withMD5], func(t *testing.T) {
			ctx := context.Background()
			v := newEnvWith(t, nil, "", func(v *env) { v.pieces, v.noMD5 = piece.NewStaged(withMD5), !withMD5 })
			a, b := machinestest.Signer(t), machinestest.Signer(t)
			// Three segments and a tail, so the endpoint's workers hash several segments.
			up, held := newCAR(t, 11, 3<<20+1234), newCAR(t, 12, 4000)
			pa, pb := v.put(a, up), v.put(b, up)
			if pa.Entry.Status != store.StatusPending || pb.Entry.Status != store.StatusPending {
				t.Fatalf("statuses %s %s", pa.Entry.Status, pb.Entry.Status)
			}
			v.upload(pa.Entry.State, up)
			if _, ok := v.pieces.Lookup(up.cid); !ok {
				t.Fatal("nothing staged after the upload")
			}
			// The delivery's compute task carries the piece.
			want, err := commp.Compute(bytes.NewReader(up.data))
			if err != nil {
				t.Fatal(err)
			}
			var fx []cid.Cid // the two deliveries run together: either queues the piece
			for _, s := range []*dag.Result{pa, pb} {
				tok, err := v.v.E.Receipt(ctx, v.entry(s.Entry.Path).Head)
				if err != nil {
					t.Fatal(err)
				}
				fx = append(fx, v.fx(tok)...)
			}
			if len(fx) != 1 {
				t.Fatalf("deliveries' fx %v, want one compute task", fx)
			}
			inv, err := v.v.E.Receipt(ctx, fx[0])
			if err != nil || inv.Invocation == nil {
				t.Fatalf("task %s: %v", fx[0], err)
			}
			if got := mustLink(t, lookup(t, inv.Invocation.Args, "piece")); !got.Equals(want.CID()) {
				t.Fatalf("task args piece %s, want %s", got, want.CID())
			}

			// A client put of bytes held without an upload: nothing staged, read back.
			v.hold(held)
			v.put(a, held)
			v.runOnce(2)
			if n := v.blobs.Gets(); n != 1 {
				t.Fatalf("%d blob reads, want 1 (the held CAR's; the uploaded one's piece is known)", n)
			}
			sum := md5.Sum(up.data)
			for _, c := range []car{up, held} {
				e := v.entry(v.piecePath(c))
				if e.Status != piece.StatusComputed {
					t.Fatalf("piece of %s is %s", c.cid, e.Status)
				}
				got, err := piece.Computed(e.State)
				if err != nil {
					t.Fatal(err)
				}
				ix, err := piece.Lookup(ctx, v.v.E, got)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case c.cid == held.cid:
					wantHeld, _ := commp.Compute(bytes.NewReader(held.data))
					if !got.Equals(wantHeld.CID()) {
						t.Fatalf("held piece %s, want %s", got, wantHeld.CID())
					}
					if (ix.MD5 != nil) != withMD5 {
						t.Fatalf("held CAR's index md5 %x with md5 %v", ix.MD5, withMD5)
					}
				case !got.Equals(want.CID()):
					t.Fatalf("uploaded piece %s, want %s", got, want.CID())
				case withMD5 && !bytes.Equal(ix.MD5, sum[:]):
					t.Fatalf("index md5 %x, want %x", ix.MD5, sum)
				case !withMD5 && ix.MD5 != nil:
					t.Fatalf("index md5 %x, want none", ix.MD5)
				}
			}
		})
	}
}

// lookup returns the field name of the map n.
func lookup(t *testing.T, n datamodel.Node, name string) datamodel.Node {
	t.Helper()
	v, err := n.LookupByString(name)
	if err != nil {
		t.Fatalf("no %s: %v", name, err)
	}
	return v
}

// TestKnownPieceOfOtherSize: a compute task whose args carry a piece that is not one of
// the CAR's size (QueueKnown given a wrong one) does not record it: the handler reads the
// CAR back and records the piece of its bytes.
func TestKnownPieceOfOtherSize(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t, nil, "")
	a := machinestest.Signer(t)
	c, other := newCAR(t, 21, 5000), newCAR(t, 22, 3000)
	v.hold(c)
	res := v.put(a, other) // not held: pending, queues nothing; its receipt is the cause
	wrong, err := commp.Compute(bytes.NewReader(other.data))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.v.E.Update(ctx, func(tx *dag.Tx) error {
		tk, err := piece.QueueKnown(tx, res.Receipt.CID, c.cid, int64(len(c.data)), &piece.Known{Piece: wrong.CID()})
		if err == nil && !tk.Defined() {
			t.Error("QueueKnown scheduled no task")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	v.runOnce(1)
	if n := v.blobs.Gets(); n != 1 {
		t.Fatalf("%d blob reads, want 1: the task's piece is not the CAR's, so it reads the CAR", n)
	}
	e := v.entry(v.piecePath(c))
	if e.Status != piece.StatusComputed {
		t.Fatalf("piece of %s is %s, want %s", c.cid, e.Status, piece.StatusComputed)
	}
	got, err := piece.Computed(e.State)
	if err != nil {
		t.Fatal(err)
	}
	want, err := commp.Compute(bytes.NewReader(c.data))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equals(want.CID()) {
		t.Fatalf("recorded piece %s, want the CAR's %s (not the task's %s)", got, want.CID(), wrong.CID())
	}
}

// TestOneReadBackAtATime: compute tasks due together read their CARs back one after
// another (piece.ReadBacks), not all at once.
func TestOneReadBackAtATime(t *testing.T) {
	v := newEnv(t, nil, "")
	s := machinestest.Signer(t)
	cars := []car{newCAR(t, 11, 3000), newCAR(t, 12, 4000), newCAR(t, 13, 5000)}
	for _, c := range cars {
		v.hold(c)
		v.put(s, c)
	}
	release := make(chan struct{})
	started := make(chan struct{}, len(cars))
	v.blobs.set(func(g *gatedBlobs) { g.block, g.started = release, started })
	ran := make(chan error, 1)
	go func() {
		n, err := v.runner.RunOnce(context.Background())
		if err == nil && n != len(cars) {
			err = fmt.Errorf("%d tasks ran, want %d", n, len(cars))
		}
		ran <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no handler read a blob")
	}
	time.Sleep(200 * time.Millisecond) // time for a second read to start, were it allowed
	if n := v.blobs.Gets(); n != piece.ReadBacks {
		t.Fatalf("%d CARs read back at once, want %d", n, piece.ReadBacks)
	}
	close(release)
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	for _, c := range cars {
		v.wantPiece(c)
	}
}

// TestYieldBeforeReadBack: a compute task that reads its CAR back calls
// ComputeOptions.Yield (serve's store.InFlight.Wait) before it reads; one whose piece the
// upload staged records it without yielding.
func TestYieldBeforeReadBack(t *testing.T) {
	var mu sync.Mutex
	var getsAtYield []int // blob reads done when Yield was called
	v := newEnvWith(t, nil, "", func(v *env) {
		v.pieces = piece.NewStaged(true)
		v.yield = func(context.Context) {
			mu.Lock()
			defer mu.Unlock()
			getsAtYield = append(getsAtYield, v.blobs.Gets())
		}
	})
	a := machinestest.Signer(t)
	up, held := newCAR(t, 41, 3000), newCAR(t, 42, 4000)
	res := v.put(a, up)
	v.upload(res.Entry.State, up) // staged: its compute task carries the piece
	v.hold(held)
	v.put(a, held) // held without an upload: read back
	v.runOnce(2)
	mu.Lock()
	defer mu.Unlock()
	if len(getsAtYield) != 1 || getsAtYield[0] != 0 {
		t.Fatalf("Yield called with %v blob reads done, want once, before the only read", getsAtYield)
	}
	if n := v.blobs.Gets(); n != 1 {
		t.Fatalf("%d blob reads, want 1 (the held CAR's)", n)
	}
	v.wantPiece(up)
	v.wantPiece(held)
}

// TestYieldInReadBackSlot: compute tasks due together yield (ComputeOptions.Yield) each
// when its read-back slot (piece.ReadBacks) is its own, right before it reads, not all
// at once before queueing for the slot: the second yields after the first's read.
func TestYieldInReadBackSlot(t *testing.T) {
	if piece.ReadBacks != 1 {
		t.Skipf("ReadBacks is %d; the test counts on one slot", piece.ReadBacks)
	}
	var mu sync.Mutex
	var getsAtYield []int // blob reads done when Yield was called
	v := newEnvWith(t, nil, "", func(v *env) {
		v.yield = func(context.Context) {
			mu.Lock()
			getsAtYield = append(getsAtYield, v.blobs.Gets())
			mu.Unlock()
			time.Sleep(50 * time.Millisecond) // time for another task to yield too, were it let
		}
	})
	s := machinestest.Signer(t)
	cars := []car{newCAR(t, 51, 3000), newCAR(t, 52, 4000)}
	for _, c := range cars {
		v.hold(c)
		v.put(s, c)
	}
	v.runOnce(len(cars))
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(getsAtYield, []int{0, 1}) {
		t.Fatalf("Yield called with %v blob reads done, want [0 1]: each task yields in its turn", getsAtYield)
	}
	for _, c := range cars {
		v.wantPiece(c)
	}
}
