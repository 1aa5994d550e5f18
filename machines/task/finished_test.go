package task_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/ucan"
)

// Finished reads back from the runner's writes the task each /task/finish ends and the
// status it gives it (done, failed, or queued again for a retry); claims, and finishes
// whose args do not say both, are not finishes.
func TestFinished(t *testing.T) {
	c := newClock()
	v := machinestest.Open(t, mem.New(), nil, nil, c.Now)
	done := schedule(t, v.E, task.Task{Cmd: "/test/fine"})
	broken := schedule(t, v.E, task.Task{Cmd: "/test/broken"})
	later := schedule(t, v.E, task.Task{Cmd: "/test/later"})
	r := task.NewRunner(v.E, map[string]task.Handler{
		"/test/fine":   func(context.Context, *ucan.Token) error { return nil },
		"/test/broken": func(context.Context, *ucan.Token) error { return task.Permanent(errors.New("broken")) },
		"/test/later":  func(context.Context, *ucan.Token) error { return errors.New("again later") },
	}, opts(c, "worker-a"))
	runOnce(t, r, 3)

	got := map[cid.Cid]string{}
	claims := 0
	for _, w := range runnerWrites(t, v.E, done, broken, later) {
		id, status, ok := task.Finished(w.inv, v.E.Service())
		if w.inv.Invocation.Command != task.FinishCommand {
			if ok {
				t.Errorf("%s: Finished says %s %s, want not a finish", w.inv.Invocation.Command, id, status)
			}
			claims++
			continue
		}
		if !ok {
			t.Fatalf("%s: not read as a finish", w.inv.CID)
		}
		got[id] = status
	}
	if claims != 3 || len(got) != 3 || got[done] != task.StatusDone || got[broken] != task.StatusFailed || got[later] != task.StatusQueued {
		t.Fatalf("finishes %v after %d claims, want %s done, %s failed and %s queued (to be retried) after 3", got, claims, done, broken, later)
	}

	signer := machinestest.Signer(t)
	finish := func(args datamodel.Node) *ucan.Token {
		tok, err := (&ucan.Invocation{Issuer: signer.DID(), Subject: signer.DID(), Command: task.FinishCommand, Args: args, Nonce: ucan.NewNonce()}).Seal(signer, ucan.SealOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	args := func(path string, state func(datamodel.MapAssembler)) datamodel.Node {
		n, err := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, task.PathArg, qp.String(path))
			if state != nil {
				qp.MapEntry(ma, "state", qp.Map(1, state))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	entry := "/" + signer.DID() + "/task/" + done.String()
	status := func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "status", qp.String(task.StatusDone)) }
	for name, tok := range map[string]*ucan.Token{
		"no state":               finish(args(entry, nil)),
		"a state without status": finish(args(entry, func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "attempts", qp.Int(1)) })),
		"a status not a string":  finish(args(entry, func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "status", qp.Int(1)) })),
		"not a task entry":       finish(args("/"+signer.DID()+"/upload/"+done.String(), status)),
		"a key not a CID":        finish(args("/"+signer.DID()+"/task/nope", status)),
		"no token":               nil,
	} {
		if id, st, ok := task.Finished(tok, signer.DID()); ok {
			t.Errorf("%s: Finished says %s %s, want not a finish", name, id, st)
		}
	}
	good := finish(args(entry, status))
	if id, st, ok := task.Finished(good, signer.DID()); !ok || !id.Equals(done) || st != task.StatusDone {
		t.Errorf("a well-formed finish: %s %q %v, want %s done", id, st, ok, done)
	}
	if id, st, ok := task.Finished(good, v.E.Service()); ok {
		t.Errorf("a finish of another service: Finished says %s %s, want not a finish", id, st)
	}
}
