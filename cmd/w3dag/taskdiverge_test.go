package main

import (
	"context"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/archive/replay"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/ucan"
)

// A replayed task whose handler fails although the original runner finished it done is
// an error, even when the rebuilt store already holds the step's archived receipt (a
// resumed replay, or a task that failed after its first write): answering with that
// receipt would count the step the same and hide what the task did not write. A failure
// the original had too (finished failed, or not finished yet) answers as before.
func TestReplayTaskDiverged(t *testing.T) {
	ctx := context.Background()
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
	ent, err := v.E.Entry(ctx, dag.Path{Subject: v.E.Service(), Collection: task.Name, Key: id.String()})
	if err != nil {
		t.Fatal(err)
	}
	held := ent.Head // a receipt the store holds, standing for the step's archived one
	boom := errors.New("boom")
	for _, c := range []struct {
		name     string
		finished string // the original runner's last status for the task ("": none)
		herr     error  // what the handler returns when run again
		diverged bool
	}{
		{name: "finished done, fails again", finished: task.StatusDone, herr: boom, diverged: true},
		{name: "finished done, succeeds again", finished: task.StatusDone},
		{name: "finished failed, fails again", finished: task.StatusFailed, herr: boom},
		{name: "not finished, fails again", herr: boom},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := &replayService{engine: v.E, finished: map[cid.Cid]string{}}
			if c.finished != "" {
				rs.finished[id] = c.finished
			}
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
