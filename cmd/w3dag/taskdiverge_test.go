package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/archive/replay"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// A replayed task whose handler fails although the original runner finished it done (its
// /task/finish in the plan) is an error, even when the rebuilt store already holds the
// step's archived receipt (a resumed replay, or a task that failed after its first write):
// answering with that receipt would count the step the same and hide what the task did
// not write. A failure the original had too (finished failed, or not finished yet)
// answers as before.
func TestReplayTaskDiverged(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	for _, c := range []struct {
		name     string
		original string // how the original runner finished the task ("": it never ran it)
		herr     error  // what the handler returns when run again
		diverged bool
	}{
		{name: "finished done, fails again", original: task.StatusDone, herr: boom, diverged: true},
		{name: "finished done, succeeds again", original: task.StatusDone},
		{name: "finished failed, fails again", original: task.StatusFailed, herr: boom},
		{name: "not finished, fails again", herr: boom},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := machinestest.Open(t, mem.New(), nil, nil, nil)
			var id cid.Cid
			if err := v.E.Update(ctx, func(tx *dag.Tx) error {
				var err error
				id, err = task.Schedule(tx, task.Task{Cmd: "/test/task"})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			inv, err := v.E.Receipt(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			path := dag.Path{Subject: v.E.Service(), Collection: task.Name, Key: id.String()}
			held := entryHead(t, v.E, path) // a receipt the store holds, standing for the step's archived one
			plan := &replay.Plan{}
			if c.original != "" {
				r := task.NewRunner(v.E, map[string]task.Handler{
					"/test/task": func(context.Context, *ucan.Token) error {
						if c.original == task.StatusFailed {
							return task.Permanent(boom)
						}
						return nil
					},
				}, task.RunnerOptions{Owner: "original", Lease: time.Minute})
				if n, err := r.RunOnce(ctx); err != nil || n != 1 {
					t.Fatalf("the original run: %d tasks, %v", n, err)
				}
				if ent, err := v.E.Entry(ctx, path); err != nil || ent.Status != c.original {
					t.Fatalf("the original run left the task %v (%v), want %s", ent, err, c.original)
				}
				// The runner's last write is the task's /task/finish, as a replay plan has it.
				rtok, err := v.E.Receipt(ctx, entryHead(t, v.E, path))
				if err != nil {
					t.Fatal(err)
				}
				_, rc, err := receipts.Decode(rtok.Raw)
				if err != nil {
					t.Fatal(err)
				}
				finish, err := v.E.Receipt(ctx, rc.Ran)
				if err != nil {
					t.Fatal(err)
				}
				plan.Steps = append(plan.Steps, replay.Step{Inv: finish})
			}
			rs := &replayService{engine: v.E}
			rs.setPlan(plan)
			h := rs.taskHandler(func(context.Context, *ucan.Token) error { return c.herr })
			got, err := h(ctx, &replay.Step{Inv: inv, Receipt: held})
			if c.diverged {
				if !errors.Is(err, errTaskDiverged) || !errors.Is(err, boom) {
					t.Fatalf("got %s, %v; want errTaskDiverged wrapping the handler's error", got, err)
				}
				return
			}
			if err != nil || !got.Equals(held) {
				t.Fatalf("got %s, %v; want the archived receipt %s", got, err, held)
			}
		})
	}
}

func entryHead(t *testing.T, e *dag.Engine, p dag.Path) cid.Cid {
	t.Helper()
	ent, err := e.Entry(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return ent.Head
}
