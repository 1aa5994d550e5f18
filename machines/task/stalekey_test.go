package task_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/ucan"
)

// A due-index key left where the task's state does not put it (a stale one) is dropped
// by the claim it leads to, as well as the key the state puts: once the task is done the
// index is empty.
func TestClaimDropsStaleKey(t *testing.T) {
	c := newClock()
	v := machinestest.Open(t, mem.New(), nil, nil, c.Now)
	id := schedule(t, v.E, task.Task{Cmd: "/test/ok", RunAt: c.Now().Add(time.Hour)})
	stale := binary.BigEndian.AppendUint64([]byte(task.QueuePrefix), uint64(c.Now().UnixMilli()))
	stale = append(stale, id.Bytes()...)
	if err := v.KV.Update(context.Background(), func(tx kv.Tx) error { return tx.Put(stale, nil) }); err != nil {
		t.Fatal(err)
	}
	if n := len(dueIndex(t, v.KV)); n != 2 {
		t.Fatalf("%d due keys, want 2 (the state's and the stale one)", n)
	}
	r := task.NewRunner(v.E, map[string]task.Handler{
		"/test/ok": func(context.Context, *ucan.Token) error { return nil },
	}, opts(c, "worker-a"))
	runOnce(t, r, 1)
	if st := state(t, v.E, id).Status; st != task.StatusDone {
		t.Fatalf("task is %s, want %s", st, task.StatusDone)
	}
	if keys := dueIndex(t, v.KV); len(keys) != 0 {
		t.Fatalf("due index %x after the task is done, want empty", keys)
	}
}
