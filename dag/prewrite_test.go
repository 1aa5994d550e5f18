package dag_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/kvtest"
)

// preWrite returns a dag.WithPreWrite option writing pre/<name>, and a count of the
// transactions it ran in.
func preWrite(name string, fail bool) (dag.OpOption, *int) {
	n := new(int)
	var mu sync.Mutex
	return dag.WithPreWrite(func(kt kv.Tx) error {
		mu.Lock()
		*n++
		mu.Unlock()
		if fail {
			return errors.New("outbox unavailable")
		}
		return kt.Put([]byte("pre/"+name), []byte(name))
	}), n
}

// preWritten reports whether pre/<name> is committed.
func preWritten(t *testing.T, store kv.Store, name string) bool {
	t.Helper()
	return kvtest.Has(t, store, "pre/"+name)
}

// TestPreWrite: an operation's WithPreWrite write commits exactly when the operation
// does, in one batch with operations that fail: an internal failure or a panic takes it
// out with its operation; a machine that failed after writing and a state too large for a
// receipt are re-run with their failure only, and the write is in the transaction that
// commits; a repeat of a task writes it too; a failing write fails its operation alone.
func TestPreWrite(t *testing.T) {
	v := newEnv(t, nil, func(o *dag.Options) {
		o.MaxBatchDelay = 20 * time.Millisecond
		withMachine("notes", flaky{})(o)
	})
	ctx := context.Background()
	var shards []cid.Cid
	for i := range 1700 {
		shards = append(shards, carCID(fmt.Sprint("shard", i)))
	}
	big := rawCID("big")
	keys := []string{"ok1", "bad1", "dirty1", "panic1", "ok2", "failing"}
	type out struct {
		res *dag.Result
		err error
		n   *int
	}
	outs := make(map[string]*out)
	var mu sync.Mutex
	var wg sync.WaitGroup
	run := func(name string, fn func(dag.OpOption) (*dag.Result, error), fail bool) {
		opt, n := preWrite(name, fail)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := fn(opt)
			mu.Lock()
			outs[name] = &out{r, err, n}
			mu.Unlock()
		}()
	}
	for _, k := range keys {
		p := v.path("notes/" + k)
		inv := v.inv(v.agent, v.space, "/dag/put", pathArgs(p, note(k)))
		run(k, func(o dag.OpOption) (*dag.Result, error) { return v.e.Put(ctx, inv, p, note(k), o) }, k == "failing")
	}
	up := v.path("upload/" + big.String())
	value := uploadValue(big, shards...)
	upInv := v.inv(v.agent, v.space, "/dag/put", pathArgs(up, nil)) // the value is too large for a token
	run("large", func(o dag.OpOption) (*dag.Result, error) { return v.e.Put(ctx, upInv, up, value, o) }, false)
	failInv := v.inv(v.agent, v.space, "/dag/put", pathArgs(v.path("notes/x"), note("x")))
	run("fail", func(o dag.OpOption) (*dag.Result, error) {
		return v.e.Fail(ctx, failInv, dag.Failf("InvalidArgs", "no"), o)
	}, false)
	wg.Wait()

	for name, want := range map[string]bool{"ok1": true, "ok2": true, "dirty1": true, "large": true, "fail": true,
		"bad1": false, "panic1": false, "failing": false} {
		o := outs[name]
		if got := preWritten(t, v.kv, name); got != want {
			t.Errorf("%s: pre-write committed %v, want %v (operation: %v)", name, got, want, o.err)
		}
		if want && (o.err != nil || *o.n == 0) {
			t.Errorf("%s: %v, pre-write ran %d times", name, o.err, *o.n)
		}
		if !want && o.err == nil {
			t.Errorf("%s: want an internal error", name)
		}
	}
	if r := outs["dirty1"].res; r == nil || r.Out.Err == nil || r.Out.Err.Name != "Refused" || *outs["dirty1"].n < 2 {
		t.Errorf("dirty1: want a Refused receipt after a re-run, got %+v (pre-write ran %d times)", r, *outs["dirty1"].n)
	}
	if r := outs["large"].res; r == nil || !errors.Is(r.Err, dag.ErrInvalidValue) || !strings.Contains(r.Out.Err.Message, "receipt") || *outs["large"].n < 2 {
		t.Errorf("large: want InvalidValue after a re-run, got %+v (pre-write ran %d times)", r, *outs["large"].n)
	}
	if !strings.Contains(fmt.Sprint(outs["failing"].err), "outbox unavailable") {
		t.Errorf("failing: %v", outs["failing"].err)
	}
	if _, err := v.e.Entry(ctx, v.path("notes/failing")); !errors.Is(err, dag.ErrNotFound) {
		t.Errorf("notes/failing written although its pre-write failed: %v", err)
	}

	// A repeat of a task writes it too; so does RecordReply.
	p := v.path("notes/ok1")
	inv := v.inv(v.agent, v.space, "/dag/put", pathArgs(p, note("again")))
	if _, err := v.e.Put(ctx, inv, p, note("again")); err != nil {
		t.Fatal(err)
	}
	opt, _ := preWrite("repeat", false)
	if res, err := v.e.Put(ctx, inv, p, note("again"), opt); err != nil || !res.Repeat || !preWritten(t, v.kv, "repeat") {
		t.Fatalf("repeat: %v %+v; pre-write committed %v", err, res, preWritten(t, v.kv, "repeat"))
	}
	opt, _ = preWrite("reply", false)
	if err := v.e.RecordReply(ctx, rawCID("reply"), []cid.Cid{inv.CID}, opt); err != nil || !preWritten(t, v.kv, "reply") {
		t.Fatalf("RecordReply: %v; pre-write committed %v", err, preWritten(t, v.kv, "reply"))
	}
	opt, _ = preWrite("reply-failing", true)
	if err := v.e.RecordReply(ctx, rawCID("reply2"), []cid.Cid{inv.CID}, opt); err == nil {
		t.Fatal("RecordReply committed although its pre-write failed")
	}
}
