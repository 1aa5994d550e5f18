package dag_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/receipts"
)

func collect(t *testing.T, ch <-chan dag.Event, n int) []dag.Event {
	t.Helper()
	var out []dag.Event
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d events", len(out))
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("timed out after %d of %d events", len(out), n)
		}
	}
	return out
}

func TestWatch(t *testing.T) {
	v := newEnv(t, nil, func(o *dag.Options) { o.WatchRing = 16 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 5 {
		v.put(v.path(fmt.Sprint("notes/a", i)), note("x"))
	}
	// A watcher of the whole DAG from the start sees history then live events.
	all := must(v.e.Watch(ctx, dag.Path{}, 0))
	// A watcher of one entry, live only.
	one := must(v.e.Watch(ctx, v.path("notes/a1"), must(v.e.LastSeq(ctx))))
	// A slow watcher of the collection that nobody reads until the end.
	slow := must(v.e.Watch(ctx, v.path("notes"), 0))
	for i := 5; i < 200; i++ {
		v.put(v.path(fmt.Sprint("notes/a", i)), note("x"))
	}
	v.remove(v.path("notes/a1"))
	evs := collect(t, all, 201)
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	got := collect(t, one, 1)
	if got[0].Path.Key != "a1" || got[0].Seq != 201 {
		t.Fatalf("entry watcher got %+v", got[0])
	}
	ent := must(v.e.Entry(ctx, v.path("notes/a1")))
	if got[0].Receipt != ent.Head {
		t.Fatal("event receipt is not the head")
	}
	// The slow watcher fell far behind the ring (16) and catches up from the log.
	sl := collect(t, slow, 201)
	for i, ev := range sl {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("slow watcher: event %d has seq %d", i, ev.Seq)
		}
	}
	// Other subjects are not seen by a subject watcher.
	other := must(v.e.Watch(ctx, dag.Path{Subject: "did:key:zOther"}, 0))
	noEvent(t, other, "of another subject")
	cancel()
	for range all {
	}
}

func TestWatchClosesWithEngine(t *testing.T) {
	v := newEnv(t, nil)
	ch := must(v.e.Watch(context.Background(), dag.Path{}, 0))
	v.e.Close()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("event after close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch channel not closed on engine close")
	}
	if _, err := v.e.Watch(context.Background(), dag.Path{}, 0); err == nil {
		t.Fatal("watch on closed engine")
	}
	if _, err := v.e.Put(context.Background(), v.inv(v.agent, v.space, "/dag/put", pathArgs(v.path("notes/x"), note("x"))), v.path("notes/x"), note("x")); err != dag.ErrClosed {
		t.Fatalf("put on closed engine: %v", err)
	}
}

// TestWatchSpaceLog: a watcher of one space that starts behind the ring (?after=0) reads
// that space's own log, not every record of every space: one page covers a space with
// three records among thousands of others, and the watcher sees exactly those three, then
// live ones.
func TestWatchSpaceLog(t *testing.T) {
	v := newEnv(t, nil, func(o *dag.Options) { o.WatchRing = 16 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	other := v.path("notes/x")
	other.Subject = "did:key:zOtherSpace"
	mine := 0
	for i := range 2500 {
		if i%1000 == 999 {
			v.put(v.path(fmt.Sprint("notes/mine", mine)), note("x"))
			mine++
			continue
		}
		p := other
		p.Key = fmt.Sprint("n", i)
		v.put(p, note("x"))
	}
	space := dag.Path{Subject: v.path("notes").Subject}
	evs, next, err := dag.LogFor(v.e, ctx, space, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != mine || next != must(v.e.LastSeq(ctx)) {
		t.Fatalf("one page of the space log: %d records up to %d, want %d up to %d", len(evs), next, mine, must(v.e.LastSeq(ctx)))
	}
	ch := must(v.e.Watch(ctx, space, 0))
	got := collect(t, ch, mine)
	for i, ev := range got {
		if ev.Path.Key != fmt.Sprint("mine", i) {
			t.Fatalf("event %d is %s", i, ev.Path)
		}
	}
	v.put(v.path("notes/live"), note("x"))
	if ev := collect(t, ch, 1)[0]; ev.Path.Key != "live" {
		t.Fatalf("live event is %s", ev.Path)
	}
}

// TestWatchSpaceLogFrom: records committed before the store had a space log (below
// meta/spacelog-from) are still replayed, from the global log.
func TestWatchSpaceLogFrom(t *testing.T) {
	v := newEnv(t, nil, func(o *dag.Options) { o.WatchRing = 4 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 20 {
		v.put(v.path(fmt.Sprint("notes/a", i)), note("x"))
	}
	// Make the store look as if the first 15 records predate the space log.
	dag.ForgetSpaceLog(t, v.e, 15)
	ch := must(v.e.Watch(ctx, dag.Path{Subject: v.path("notes").Subject}, 0))
	for i, ev := range collect(t, ch, 20) {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
}

// TestRecords: Engine.Records hands over what it committed with the blocks of the
// receipt and of the invocation it ran (the bytes stored in kv), records past the
// in-memory ring come from the log without them, and both list the log's records.
func TestRecords(t *testing.T) {
	v := newEnv(t, nil, func(o *dag.Options) { o.WatchRing = 4 })
	ctx := context.Background()
	var invs []cid.Cid
	for i := range 12 {
		res := v.put(v.path(fmt.Sprint("notes/r", i)), note("x"))
		_, r, err := receipts.Decode(res.Receipt.Raw)
		if err != nil {
			t.Fatal(err)
		}
		invs = append(invs, r.Ran)
	}
	logged := must(v.e.Log(ctx, 0, 100))
	if len(logged) != 12 {
		t.Fatalf("%d log records, want 12", len(logged))
	}
	// The last records are in memory, with their blocks.
	recs := must(v.e.Records(ctx, 8, 100))
	if len(recs) != 4 {
		t.Fatalf("Records after 8: %d records, want the 4 of the ring", len(recs))
	}
	for i, r := range recs {
		if !reflect.DeepEqual(r.Event, logged[8+i]) {
			t.Fatalf("record %+v, log has %+v", r.Event, logged[8+i])
		}
		err := v.e.View(ctx, func(tx *dag.Tx) error {
			rb, err := tx.Block(r.Receipt)
			if err != nil {
				return err
			}
			ib, err := tx.Block(r.Ran)
			if err != nil {
				return err
			}
			if !bytes.Equal(rb, r.ReceiptRaw) || !bytes.Equal(ib, r.RanRaw) || !r.Ran.Equals(invs[8+i]) {
				t.Errorf("record %d: the blocks in memory are not those in kv (ran %s, want %s)", r.Seq, r.Ran, invs[8+i])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Older records come from the log, without blocks.
	recs = must(v.e.Records(ctx, 0, 3))
	if len(recs) != 3 {
		t.Fatalf("Records after 0: %d records, want 3", len(recs))
	}
	for i, r := range recs {
		if !reflect.DeepEqual(r.Event, logged[i]) || r.ReceiptRaw != nil || r.RanRaw != nil || r.Ran.Defined() {
			t.Fatalf("record %+v from the log, want %+v without blocks", r, logged[i])
		}
	}
}

// TestRecordsBytes: the ring keeps the blocks of its newest records up to
// Options.WatchRingBytes; older records in it are handed over as their events, without
// blocks, so that a ring of large invocations does not hold gigabytes.
func TestRecordsBytes(t *testing.T) {
	ctx := context.Background()
	// One record's blocks, as the ring holds them without a tight bound.
	probe := newEnv(t, nil)
	probe.put(probe.path("notes/r10"), note("x"))
	one := must(probe.e.Records(ctx, 0, 1))
	if len(one) != 1 || one[0].ReceiptRaw == nil || one[0].RanRaw == nil {
		t.Fatalf("Records of a fresh commit: %+v, want it with its blocks", one)
	}
	size := len(one[0].ReceiptRaw) + len(one[0].RanRaw)

	// Room for two records' blocks, not three.
	v := newEnv(t, nil, func(o *dag.Options) { o.WatchRing, o.WatchRingBytes = 4, 2*size+size/2 })
	for i := range 12 {
		v.put(v.path(fmt.Sprint("notes/r", 10+i)), note("x"))
	}
	logged := must(v.e.Log(ctx, 0, 100))
	recs := must(v.e.Records(ctx, 8, 100))
	if len(recs) != 4 {
		t.Fatalf("Records after 8: %d records, want the 4 of the ring", len(recs))
	}
	for i, r := range recs {
		if !reflect.DeepEqual(r.Event, logged[8+i]) {
			t.Fatalf("record %+v, log has %+v", r.Event, logged[8+i])
		}
		withBlocks := i >= 2
		if got := r.ReceiptRaw != nil && r.RanRaw != nil && r.Ran.Defined(); got != withBlocks {
			t.Errorf("record %d carries blocks: %v, want %v (the newest within %d bytes)", r.Seq, got, withBlocks, 2*size+size/2)
		}
		if !withBlocks && (r.ReceiptRaw != nil || r.RanRaw != nil || r.Ran.Defined()) {
			t.Errorf("record %d past the byte bound keeps part of its blocks (receipt %d bytes, ran %s with %d)", r.Seq, len(r.ReceiptRaw), r.Ran, len(r.RanRaw))
		}
	}
}

// TestRecordsFresh: a record says what its batch knew of the invocation its receipt ran
// (Record.Fresh): a client's invocation run for the first time, with the message it came
// in, and an invocation Tx.Invoke made, first on its first record only; a receipt that
// ran an invocation of an earlier transaction, or the service's own run as an operation,
// says nothing.
func TestRecordsFresh(t *testing.T) {
	v := newEnv(t, nil)
	ctx := context.Background()
	last := func(n int) []dag.Record {
		t.Helper()
		seq := must(v.e.LastSeq(ctx))
		recs := must(v.e.Records(ctx, seq-uint64(n), n))
		if len(recs) != n {
			t.Fatalf("%d records, want %d", len(recs), n)
		}
		return recs
	}

	msg := carCID("message")
	p := v.path("notes/fresh")
	inv := v.inv(v.agent, p.Subject, "/dag/put", pathArgs(p, note("x")))
	res, err := v.e.Put(ctx, inv, p, note("x"), dag.WithMessage(msg))
	if err != nil || res.Err != nil {
		t.Fatalf("put: %v %v", err, res.Err)
	}
	r := last(1)[0]
	if !r.Fresh || !r.First || !r.Message.Equals(msg) {
		t.Fatalf("a client's first run: Fresh %v First %v Message %s, want true true %s", r.Fresh, r.First, r.Message, msg)
	}
	if !r.Ran.Equals(inv.CID) || !bytes.Equal(r.RanRaw, inv.Raw) || !r.RanTask.Defined() {
		t.Fatalf("record ran %s (task %s), want the invocation %s and its task", r.Ran, r.RanTask, inv.CID)
	}
	// A repeat in another message commits nothing.
	before := must(v.e.LastSeq(ctx))
	if res, err := v.e.Put(ctx, inv, p, note("x"), dag.WithMessage(carCID("again"))); err != nil || !res.Repeat {
		t.Fatalf("repeat: %v %+v", err, res)
	}
	if got := must(v.e.LastSeq(ctx)); got != before {
		t.Fatalf("a repeat committed up to %d (was %d)", got, before)
	}

	var made cid.Cid
	err = v.e.Update(ctx, func(tx *dag.Tx) error {
		tok, err := tx.Invoke("/test/fresh", note("y"))
		if err != nil {
			return err
		}
		made = tok.CID
		for _, k := range []string{"notes/a", "notes/b"} {
			if _, err := tx.Put(v.path(k), tok.CID, counterState(1)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	two := last(2)
	for i, r := range two {
		if !r.Fresh || r.First != (i == 0) || r.Message.Defined() || !r.Ran.Equals(made) {
			t.Fatalf("record %d of an invocation made in its transaction: Fresh %v First %v Message %s Ran %s", i, r.Fresh, r.First, r.Message, r.Ran)
		}
	}
	err = v.e.Update(ctx, func(tx *dag.Tx) error {
		_, err := tx.Put(v.path("notes/c"), made, counterState(1))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := last(1)[0]; r.Fresh || r.First || r.Message.Defined() {
		t.Fatalf("a receipt that ran an earlier transaction's invocation: Fresh %v First %v Message %s, want nothing", r.Fresh, r.First, r.Message)
	}

	self, err := v.e.Invoke("/dag/put", pathArgs(v.path("notes/self"), note("s")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.Put(ctx, self, v.path("notes/self"), note("s")); err != nil {
		t.Fatal(err)
	}
	if r := last(1)[0]; r.Fresh {
		t.Fatalf("the service's own invocation run as an operation: Fresh, want nothing (a task runner's records may have run it)")
	}
}
