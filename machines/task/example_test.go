package task_test

import (
	"context"
	"fmt"
	"time"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// A task is scheduled in the transaction of its cause and run by a Runner once due.
func ExampleSchedule() {
	ctx := context.Background()
	svc, _ := did.GenerateEd25519()
	now := time.UnixMilli(1_700_000_000_000)
	clock := func() time.Time { return now }
	e, err := dag.Open(ctx, dag.Options{KV: mem.New(), Signer: svc, Schema: schema.MustLoad(), Clock: clock})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	var id fmt.Stringer
	err = e.Update(ctx, func(tx *dag.Tx) error {
		c, err := task.Schedule(tx, task.Task{Cmd: "/example/hello", RunAt: tx.Now().Add(time.Minute)})
		id = c
		return err
	})
	if err != nil {
		panic(err)
	}
	r := task.NewRunner(e, map[string]task.Handler{
		"/example/hello": func(_ context.Context, inv *ucan.Token) error {
			fmt.Println("running", inv.Invocation.Command)
			return nil
		},
	}, task.RunnerOptions{Clock: clock})
	n, _ := r.RunOnce(ctx)
	fmt.Println("due now:", n)
	now = now.Add(time.Minute)
	n, _ = r.RunOnce(ctx)
	fmt.Println("due after a minute:", n)
	ent, _ := e.Entry(ctx, dag.Path{Subject: e.Service(), Collection: task.Name, Key: id.String()})
	fmt.Println(ent.Status)
	// Output:
	// due now: 0
	// running /example/hello
	// due after a minute: 1
	// done
}
