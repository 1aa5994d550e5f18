package dag_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// TestBatchDependencies runs operations that depend on each other inside one batch: a
// same-value put advancing an entry started earlier in the batch, system writes between
// them, and a task sent twice. Receipts are issued lazily inside a batch; every link and
// index must still come out right.
func TestBatchDependencies(t *testing.T) {
	v := newEnv(t, nil, func(o *dag.Options) {
		o.MaxBatchDelay = 30 * time.Millisecond
		withMachine("notes", counting{})(o)
	})
	ctx := context.Background()
	x := carCID("x")
	sp := v.path("store/" + x.String())
	dup := v.inv(v.agent, v.space, "/dag/put", pathArgs(v.path("notes/dup"), note("d")))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var results []*dag.Result
	run := func(f func() (*dag.Result, error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := f()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}()
	}
	for i := range 2 {
		run(func() (*dag.Result, error) {
			return v.e.Put(ctx, v.inv(v.agent, v.space, "/dag/put", pathArgs(sp, storeValue(x, 1))), sp, storeValue(x, 1))
		})
		run(func() (*dag.Result, error) {
			return v.e.Put(ctx, dup, v.path("notes/dup"), note("d"))
		})
		for j := range 3 {
			p := v.path(fmt.Sprintf("notes/n%d-%d", i, j))
			run(func() (*dag.Result, error) {
				return v.e.Put(ctx, v.inv(v.agent, v.space, "/dag/put", pathArgs(p, note("n"))), p, note("n"))
			})
		}
	}
	wg.Wait()
	if st := v.e.Stats(); st.Commits > 2 {
		t.Logf("operations spread over %d commits", st.Commits)
	}
	repeats := 0
	for _, r := range results {
		if r.Err != nil || r.Receipt == nil {
			t.Fatalf("result %+v", r)
		}
		if r.Repeat {
			repeats++
			continue
		}
		if r.Entry.Head != r.Receipt.CID {
			t.Fatalf("entry head %s, receipt %s", r.Entry.Head, r.Receipt.CID)
		}
		if _, err := receipts.Verify(r.Receipt, v.e.Service()); err != nil {
			t.Fatal(err)
		}
	}
	if repeats != 1 {
		t.Fatalf("%d repeats", repeats)
	}
	// The store entry: queued then done, linked.
	var statuses []string
	ent := must(v.e.Entry(ctx, sp))
	err := v.e.Chain(ctx, ent.Head, func(_ *ucan.Token, r *receipts.Receipt) error {
		statuses = append(statuses, status(t, r.Out.Ok))
		return nil
	})
	if err != nil || fmt.Sprint(statuses) != "[done queued]" {
		t.Fatalf("store chain %v %v", statuses, err)
	}
	// 7 notes puts and the metric each wrote, plus two store receipts.
	if n := v.verifyChain(v.path("metrics/notes-add-total")); n != 7 {
		t.Fatalf("metric chain %d", n)
	}
	evs := must(v.e.Log(ctx, 0, 0))
	if len(evs) != 16 {
		t.Fatalf("%d log records", len(evs))
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("gap at %d", i)
		}
		r := must(receipts.Parse(must(v.e.Receipt(ctx, ev.Receipt))))
		if r.Seq != ev.Seq || r.Path != ev.Path.String() {
			t.Fatalf("log record %d names receipt %+v", ev.Seq, r)
		}
	}
}

// summing counts the notes started in a batch with a finisher, which writes the count once
// per batch to metrics/notes/batch-total; a note titled "boom" fails internally after
// counting, so its batch is retried without it.
type summing struct{ dag.RecordMachine }

type batchSum struct{ n int64 }

func (s *batchSum) Finish(tx *dag.Tx) error {
	p := dag.Path{Subject: tx.Service(), Collection: "metrics", Key: "notes", Fields: []string{"batch-total"}}
	prev := int64(0)
	if ent, err := tx.EntryAt(p); err == nil {
		prev = must(must(ent.State.LookupByString("value")).AsInt())
	} else if !errors.Is(err, dag.ErrNotFound) {
		return err
	}
	inv, err := tx.Invoke("/metrics/add", counterState(s.n))
	if err != nil {
		return err
	}
	_, err = tx.Put(p, inv.CID, counterState(prev+s.n))
	return err
}

func (m summing) Start(tx *dag.Tx, p dag.Path, in datamodel.Node, prev *dag.Entry) (datamodel.Node, error) {
	tx.Batch("summing", func() dag.Finisher { return &batchSum{} }).(*batchSum).n++
	if title := must(must(in.LookupByString("title")).AsString()); title == "boom" {
		return nil, errors.New("boom")
	}
	return m.RecordMachine.Start(tx, p, in, prev)
}

func TestBatchFinisher(t *testing.T) {
	v := newEnv(t, nil, func(o *dag.Options) {
		o.MaxBatchDelay = 30 * time.Millisecond
		withMachine("notes", summing{})(o)
		withMachine("metrics", counters{})(o)
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			title := "n"
			if i == 3 {
				title = "boom"
			}
			p := v.path(fmt.Sprintf("notes/n%d", i))
			_, err := v.e.Put(ctx, v.inv(v.agent, v.space, "/dag/put", pathArgs(p, note(title))), p, note(title))
			if (err != nil) != (i == 3) {
				t.Errorf("put %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	mp := dag.Path{Subject: v.e.Service(), Collection: "metrics", Key: "notes", Fields: []string{"batch-total"}}
	ent := must(v.e.Entry(ctx, mp))
	if got := must(must(ent.State.LookupByString("value")).AsInt()); got != 7 {
		t.Fatalf("finished count %d, want 7 (the failed put's batch attempt is not counted)", got)
	}
	// One receipt per committed batch that held a note, not one per note.
	receipts := v.verifyChain(mp)
	if commits := v.e.Stats().Commits; receipts < 1 || uint64(receipts) > commits || receipts >= 7 {
		t.Fatalf("%d metric receipts for 7 notes in %d commits", receipts, commits)
	}
	// Views and reads have no batch to finish.
	err := v.e.View(ctx, func(tx *dag.Tx) error {
		if f := tx.Batch("summing", func() dag.Finisher { return &batchSum{} }); f != nil {
			return errors.New("a view made a finisher")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// failingFinisher fails the batch it finishes.
type failingFinisher struct{}

func (failingFinisher) Finish(*dag.Tx) error { return errors.New("finisher broke") }

// TestBatchFinisherFails: a finisher's error fails every operation of the batch with that
// error, and nothing of the batch commits.
func TestBatchFinisherFails(t *testing.T) {
	v := newEnv(t, nil)
	ctx := context.Background()
	before := must(v.e.LastSeq(ctx))
	err := v.e.Update(ctx, func(tx *dag.Tx) error {
		inv, err := tx.Invoke("/test/x", note("x"))
		if err != nil {
			return err
		}
		if _, err := tx.Put(v.path("notes/x"), inv.CID, counterState(1)); err != nil {
			return err
		}
		tx.Batch("failing", func() dag.Finisher { return failingFinisher{} })
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "finisher broke") {
		t.Fatalf("Update: %v, want the finisher's error", err)
	}
	if got := must(v.e.LastSeq(ctx)); got != before {
		t.Fatalf("a failed batch committed up to seq %d (was %d)", got, before)
	}
}
