package dag_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/ucan"
)

func TestConcurrentDifferentValues(t *testing.T) {
	for _, delay := range []time.Duration{0, 2 * time.Millisecond} {
		t.Run(fmt.Sprint("delay ", delay), func(t *testing.T) {
			v := newEnv(t, nil, func(o *dag.Options) { o.MaxBatchDelay = delay })
			p := v.path("notes/contended")
			const n = 100
			results := make([]*dag.Result, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = v.put(p, note(fmt.Sprint("value ", i)))
				}()
			}
			wg.Wait()
			wins, exists := 0, 0
			for _, r := range results {
				switch {
				case r.Err == nil:
					wins++
				case errors.Is(r.Err, dag.ErrEntryExists):
					exists++
				default:
					t.Fatalf("unexpected failure %v", r.Err)
				}
			}
			if wins != 1 || exists != n-1 {
				t.Fatalf("%d wins, %d EntryExists", wins, exists)
			}
			if got := v.verifyChain(p); got != 1 {
				t.Fatalf("chain length %d", got)
			}
			if seq := must(v.e.LastSeq(context.Background())); seq != 1 {
				t.Fatalf("last seq %d, want 1", seq)
			}
		})
	}
}

func TestConcurrentSameValue(t *testing.T) {
	v := newEnv(t, nil)
	p := v.path("notes/same")
	const n = 100
	results := make([]*dag.Result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = v.put(p, note("same"))
		}()
	}
	wg.Wait()
	head := must(v.e.Entry(context.Background(), p)).Head
	for _, r := range results {
		if r.Err != nil || r.Receipt.CID != head {
			t.Fatalf("every put must return the one head: %v", r.Err)
		}
	}
	page := v.sel(v.path("notes"), dag.Query{}).Page
	if len(page.Entries) != 1 || v.verifyChain(p) != 1 {
		t.Fatalf("%d entries", len(page.Entries))
	}
}

// TestTaskDedup: the same task (same sub, cmd, args, nonce) is run once, whoever sends it
// and however often, even concurrently.
func TestTaskDedup(t *testing.T) {
	v := newEnv(t, nil)
	ctx := context.Background()
	p := v.path("notes/dedup")
	val := note("v")
	base := &ucan.Invocation{Subject: v.space, Command: "/dag/put", Args: pathArgs(p, val), Nonce: ucan.NewNonce()}
	// The same task, sealed by different issuers: different invocation CIDs.
	var toks []*ucan.Token
	for range 20 {
		s := v.agent
		if len(toks)%2 == 1 {
			s = v.service
		}
		i := *base
		i.Issuer = s.DID()
		i.IssuedAt = new(int64)
		*i.IssuedAt = int64(len(toks))
		toks = append(toks, must(i.Seal(s, ucan.SealOptions{})))
	}
	results := make([]*dag.Result, len(toks))
	var wg sync.WaitGroup
	for i, tok := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = must(v.e.Put(ctx, tok, p, val))
		}()
	}
	wg.Wait()
	repeats := 0
	for _, r := range results {
		if r.Receipt.CID != results[0].Receipt.CID {
			t.Fatal("repeats must return the stored receipt")
		}
		if r.Repeat {
			repeats++
		}
	}
	if repeats != len(toks)-1 {
		t.Fatalf("%d repeats, want %d", repeats, len(toks)-1)
	}
	task := must(base.Task())
	if c := must(v.e.TaskResult(ctx, task)); c != results[0].Receipt.CID {
		t.Fatal("task result index")
	}
	// Every invocation of the task is stored and indexed under the task.
	for _, tok := range toks {
		if _, err := v.e.Block(ctx, tok.CID); err != nil {
			t.Fatalf("invocation %s not stored", tok.CID)
		}
		err := v.kv.View(ctx, func(kt kv.Tx) error {
			_, err := kt.Get([]byte("task/" + task.String() + "/" + tok.CID.String() + ".invocation"))
			return err
		})
		if err != nil {
			t.Fatalf("invocation %s not indexed: %v", tok.CID, err)
		}
	}
	// A repeat of a task that failed returns the stored failure, even when it would now
	// succeed.
	rm := v.inv(v.agent, v.space, "/dag/remove", pathArgs(v.path("notes/later"), nil))
	first := must(v.e.Remove(ctx, rm, v.path("notes/later")))
	if !errors.Is(first.Err, dag.ErrNotFound) {
		t.Fatal(first.Err)
	}
	v.put(v.path("notes/later"), note("x"))
	again := must(v.e.Remove(ctx, rm, v.path("notes/later")))
	if !again.Repeat || !errors.Is(again.Err, dag.ErrNotFound) || again.Receipt.CID != first.Receipt.CID {
		t.Fatalf("repeat of failed task: %+v", again)
	}
}

// flaky fails with an internal error for keys starting with "bad", writes then fails with
// a business error for keys starting with "dirty", panics for "panic".
type flaky struct{ dag.RecordMachine }

func (f flaky) Start(tx *dag.Tx, p dag.Path, in datamodel.Node, prev *dag.Entry) (datamodel.Node, error) {
	switch {
	case len(p.Key) >= 3 && p.Key[:3] == "bad":
		return nil, errors.New("disk on fire")
	case len(p.Key) >= 5 && p.Key[:5] == "dirty":
		kt, err := tx.KV("x/")
		if err != nil {
			return nil, err
		}
		if err := kt.Put([]byte("x/dirty/"+p.Key), []byte("1")); err != nil {
			return nil, err
		}
		if err := tx.Add("dirty", 1); err != nil {
			return nil, err
		}
		return nil, dag.Failf("Refused", "no %s", p.Key)
	case len(p.Key) >= 5 && p.Key[:5] == "panic":
		panic("boom")
	}
	return f.RecordMachine.Start(tx, p, in, prev)
}

func TestBatchIsolation(t *testing.T) {
	v := newEnv(t, nil, func(o *dag.Options) {
		o.MaxBatchDelay = 20 * time.Millisecond
		withMachine("notes", flaky{})(o)
	})
	ctx := context.Background()
	keys := []string{"ok1", "bad1", "ok2", "dirty1", "ok3", "panic1", "ok4", "bad2", "dirty2", "ok5"}
	type out struct {
		res *dag.Result
		err error
	}
	outs := make([]out, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := v.path("notes/" + k)
			r, err := v.e.Put(ctx, v.inv(v.agent, v.space, "/dag/put", pathArgs(p, note(k))), p, note(k))
			outs[i] = out{r, err}
		}()
	}
	wg.Wait()
	for i, k := range keys {
		o := outs[i]
		switch k[:2] {
		case "ok":
			if o.err != nil || o.res.Err != nil || o.res.Entry.Status != "done" {
				t.Errorf("%s: %v %+v", k, o.err, o.res)
			}
		case "ba", "pa":
			if o.err == nil {
				t.Errorf("%s: want an internal error", k)
			}
			if _, err := v.e.Entry(ctx, v.path("notes/"+k)); !errors.Is(err, dag.ErrNotFound) {
				t.Errorf("%s: entry exists after failure", k)
			}
		case "di":
			if o.err != nil || o.res.Err == nil || o.res.Out.Err.Name != "Refused" {
				t.Errorf("%s: want a Refused receipt: %v %+v", k, o.err, o.res)
			}
		}
	}
	// The dirty writes were rolled back.
	err := v.e.View(ctx, func(tx *dag.Tx) error {
		kt, err := tx.KV("x/")
		if err != nil {
			return err
		}
		if _, err := kt.Get([]byte("x/dirty/dirty1")); err == nil {
			return errors.New("dirty write kept")
		}
		if n, _ := tx.Counter("dirty"); n != 0 {
			return fmt.Errorf("dirty counter %d", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The log has exactly the 5 successful puts, without gaps.
	evs := must(v.e.Log(ctx, 0, 0))
	if len(evs) != 5 {
		t.Fatalf("%d log records", len(evs))
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("gap in log: %v", evs)
		}
	}
}
