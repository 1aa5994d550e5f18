package task_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// write is one of the runner's writes read back from a store: the invocation it ran and
// its receipt.
type write struct {
	inv     *ucan.Token
	receipt cid.Cid
	ts      int64
	seq     uint64
}

// runnerWrites returns the runner's writes of the tasks ids, in commit order.
func runnerWrites(t *testing.T, e *dag.Engine, ids ...cid.Cid) []write {
	t.Helper()
	ctx := context.Background()
	var out []write
	for _, id := range ids {
		err := e.Chain(ctx, state(t, e, id).Head, func(tok *ucan.Token, r *receipts.Receipt) error {
			if r.Ran.Equals(id) {
				return nil // Schedule's queued state
			}
			inv, err := e.Receipt(ctx, r.Ran)
			if err != nil {
				return err
			}
			out = append(out, write{inv: inv, receipt: tok.CID, ts: r.TS, seq: r.Seq})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func dueIndex(t *testing.T, st kv.Store) [][]byte {
	t.Helper()
	var keys [][]byte
	err := st.View(context.Background(), func(kt kv.Tx) error {
		return kt.Scan(kv.ScanOptions{Start: []byte(task.QueuePrefix), End: kv.PrefixEnd([]byte(task.QueuePrefix))}, func(k, _ []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// The runner's claims and outcomes are invocations whose args say everything the write
// needs: Apply, given them in commit order at their times on a store where the same tasks
// were scheduled, writes byte-identical receipts and the same due index — a task done
// after a retry, one failed for good, one still waiting for its next attempt.
func TestApply(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	v := machinestest.Open(t, mem.New(), nil, nil, c.Now)
	start := c.Now()
	sched := func(e *dag.Engine) []cid.Cid {
		return []cid.Cid{
			schedule(t, e, task.Task{Cmd: "/test/flaky-once"}),
			schedule(t, e, task.Task{Cmd: "/test/broken"}),
			schedule(t, e, task.Task{Cmd: "/test/later", RunAt: start.Add(500 * time.Millisecond)}),
		}
	}
	ids := sched(v.E)
	failed := false
	r := task.NewRunner(v.E, map[string]task.Handler{
		"/test/flaky-once": func(context.Context, *ucan.Token) error {
			if !failed {
				failed = true
				return errors.New("not yet")
			}
			return nil
		},
		"/test/broken": func(context.Context, *ucan.Token) error { return task.Permanent(errors.New("broken")) },
		"/test/later":  func(context.Context, *ucan.Token) error { return errors.New("again later") },
	}, opts(c, "worker-a"))
	runOnce(t, r, 2)
	c.Add(time.Second)
	runOnce(t, r, 2)
	if st := state(t, v.E, ids[0]).Status; st != task.StatusDone {
		t.Fatalf("flaky task is %s", st)
	}
	if st := state(t, v.E, ids[1]).Status; st != task.StatusFailed {
		t.Fatalf("broken task is %s", st)
	}
	if st := state(t, v.E, ids[2]).Status; st != task.StatusQueued {
		t.Fatalf("later task is %s", st)
	}
	writes := runnerWrites(t, v.E, ids...)
	if len(writes) != 8 {
		t.Fatalf("%d runner writes, want 8 (a claim and an outcome per attempt: 2 + 1 + 1)", len(writes))
	}

	// Again on an empty store with the same key: schedule at the same time, then Apply.
	var now time.Time
	w := machinestest.Open(t, mem.New(), v.Service, nil, func() time.Time { return now })
	now = start
	if again := sched(w.E); !slices.EqualFunc(again, ids, cid.Cid.Equals) {
		t.Fatalf("tasks scheduled again are %v, want %v", again, ids)
	}
	for i, wr := range writes {
		now = time.UnixMilli(wr.ts)
		var got cid.Cid
		if err := w.E.Update(ctx, func(tx *dag.Tx) error {
			var err error
			got, err = task.Apply(tx, wr.inv)
			return err
		}); err != nil {
			t.Fatalf("write %d (%s): %v", i, wr.inv.Invocation.Command, err)
		}
		if !got.Equals(wr.receipt) {
			t.Fatalf("write %d (%s): receipt %s, want %s", i, wr.inv.Invocation.Command, got, wr.receipt)
		}
	}
	for _, id := range ids {
		if a, b := state(t, v.E, id), state(t, w.E, id); !a.Head.Equals(b.Head) {
			t.Errorf("task %s: head %s applied, %s live", id, b.Head, a.Head)
		}
	}
	if a, b := dueIndex(t, v.KV), dueIndex(t, w.KV); len(a) != 1 || len(b) != 1 || !bytes.Equal(a[0], b[0]) {
		t.Errorf("due index applied %x, live %x (want the one queued task)", b, a)
	}

	// Apply takes only the runner's writes of the service.
	stranger := machinestest.Signer(t)
	other, err := (&ucan.Invocation{Issuer: stranger.DID(), Subject: stranger.DID(), Command: task.ClaimCommand, Args: writes[0].inv.Invocation.Args, Nonce: ucan.NewNonce()}).Seal(stranger, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]*ucan.Token{"not a runner write": mustReceiptInv(t, v.E, ids[0]), "another issuer": other} {
		err := w.E.Update(ctx, func(tx *dag.Tx) error { _, err := task.Apply(tx, tok); return err })
		if !errors.Is(err, task.ErrInvalidTask) {
			t.Errorf("%s: %v, want ErrInvalidTask", name, err)
		}
	}
}

func mustReceiptInv(t *testing.T, e *dag.Engine, c cid.Cid) *ucan.Token {
	t.Helper()
	tok, err := e.Receipt(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
