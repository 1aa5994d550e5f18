package task

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/ucan"
)

// Commands of the runner's own writes. Every state a Runner gives a task entry (a claim,
// a renewed lease, an outcome) is a self-issued invocation of one of them with args
//
//	{path: String, state: TaskState}
//
// (the task entry's path and its new state), made in the transaction that writes it
// (dag.Tx.Invoke, so archived with it), whose receipt is the entry's new head (ran = this
// invocation, origin = the previous head) and whose reply is archived too (dag.Tx.Reply).
// The states carry the runner's own inputs (owner, lease end, attempts, error), so the
// archive alone says what each write was: Apply writes it again (replay).
const (
	ClaimCommand  = "/task/claim"
	RenewCommand  = "/task/renew"
	FinishCommand = "/task/finish"
)

// IsWriteCommand reports whether cmd is one of the runner's own write commands
// (ClaimCommand, RenewCommand, FinishCommand).
func IsWriteCommand(cmd string) bool {
	return cmd == ClaimCommand || cmd == RenewCommand || cmd == FinishCommand
}

// Finished returns the task a runner write of service read back from the archive ends
// (tok, an invocation of FinishCommand: its entry key, the task invocation's CID) and the
// status it gives it: StatusDone, StatusFailed, or StatusQueued for an attempt to be
// retried. ok is false for any other token: another command, or a finish Apply would
// refuse, or one whose state has no string status.
func Finished(tok *ucan.Token, service string) (task cid.Cid, status string, ok bool) {
	if tok == nil || tok.Invocation == nil || tok.Invocation.Command != FinishCommand {
		return cid.Undef, "", false
	}
	_, task, state, err := readWrite(tok, service)
	if err != nil {
		return cid.Undef, "", false
	}
	v, err := state.LookupByString(dag.StatusKey)
	if err != nil || v == nil {
		return cid.Undef, "", false
	}
	if status, err = v.AsString(); err != nil {
		return cid.Undef, "", false
	}
	return task, status, true
}

// record writes state to the task entry p (whose current entry is prev) as the
// self-issued invocation cmd, and returns the new head.
func record(tx *dag.Tx, cmd string, p dag.Path, task cid.Cid, prev *dag.Entry, state datamodel.Node) (cid.Cid, error) {
	args, err := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, PathArg, qp.String(p.String()))
		qp.MapEntry(ma, "state", qp.Node(state))
	})
	if err != nil {
		return cid.Undef, fmt.Errorf("%s of %s: %w", cmd, p, err)
	}
	inv, err := tx.Invoke(cmd, args)
	if err != nil {
		return cid.Undef, fmt.Errorf("%s of %s: %w", cmd, p, err)
	}
	return write(tx, inv, p, task, prev, state)
}

// write gives the task entry p its new state with a receipt ran = inv, moves the task's
// key in the due index from where prev's state put it to where state puts it (queued: at
// notBefore; running: at the lease end; done, failed: nowhere), records the receipt as
// inv's result and archives it as inv's reply.
func write(tx *dag.Tx, inv *ucan.Token, p dag.Path, task cid.Cid, prev *dag.Entry, state datamodel.Node) (cid.Cid, error) {
	kt, err := tx.KV(QueuePrefix)
	if err != nil {
		return cid.Undef, err
	}
	if prev != nil {
		if ms, ok, err := dueAt(prev.Status, prev.State); err != nil {
			return cid.Undef, fmt.Errorf("%w: %s: %w", ErrCorrupt, p, err)
		} else if ok {
			if err := kt.Delete(queueKey(ms, task)); err != nil {
				return cid.Undef, err
			}
		}
	}
	ent, err := tx.Put(p, inv.CID, state)
	if err != nil {
		return cid.Undef, err
	}
	if ms, ok, err := dueAt(ent.Status, state); err != nil {
		return cid.Undef, fmt.Errorf("%w: %s: %w", ErrInvalidTask, p, err)
	} else if ok {
		if err := kt.Put(queueKey(ms, task), nil); err != nil {
			return cid.Undef, err
		}
	}
	if err := tx.SetResult(inv, ent.Head); err != nil {
		return cid.Undef, err
	}
	if err := tx.Reply(inv, ent.Head); err != nil {
		return cid.Undef, err
	}
	return ent.Head, nil
}

// dueAt returns where a task entry of the status and state is in the due index: queued at
// its notBefore, running at its lease end, and nowhere (false) when done or failed.
func dueAt(status string, state datamodel.Node) (int64, bool, error) {
	var field string
	switch status {
	case StatusQueued:
		field = "notBefore"
	case StatusRunning:
		field = "lease"
	default:
		return 0, false, nil
	}
	if state == nil || state.Kind() != datamodel.Kind_Map {
		return 0, false, errors.New("state is not a map")
	}
	v, err := state.LookupByString(field)
	if err != nil || v == nil || v.IsAbsent() {
		return 0, false, fmt.Errorf("a %s task state without %q", status, field)
	}
	ms, err := v.AsInt()
	if err != nil {
		return 0, false, fmt.Errorf("%q is not an integer", field)
	}
	return ms, true, nil
}

// Apply writes again, inside tx, a runner write read back from the archive (tok, an
// invocation of ClaimCommand, RenewCommand or FinishCommand issued by the service), as the
// runner wrote it: it stores and archives tok (dag.Tx.Archive), gives the task entry its
// args.state with a receipt ran = tok, moves the due index and archives the reply. It
// returns the receipt's CID. A token that is not such an invocation, or names an entry
// that is not a task of the service, is an error wrapping ErrInvalidTask.
func Apply(tx *dag.Tx, tok *ucan.Token) (cid.Cid, error) {
	p, task, state, err := readWrite(tok, tx.Service())
	if err != nil {
		return cid.Undef, err
	}
	prev, err := tx.Entry(p)
	if errors.Is(err, dag.ErrNotFound) {
		return cid.Undef, fmt.Errorf("%w: %s: no task entry %s", ErrInvalidTask, tok.CID, p)
	}
	if err != nil {
		return cid.Undef, err
	}
	if err := tx.Archive(tok); err != nil {
		return cid.Undef, err
	}
	return write(tx, tok, p, task, prev, state)
}

// readWrite reads a runner write of service (tok, an invocation of ClaimCommand,
// RenewCommand or FinishCommand issued by service on itself): the task entry it writes,
// the task (the entry's key) and the entry's new state (args {path, state}). A token that
// is not one is an error wrapping ErrInvalidTask, naming what is wrong.
func readWrite(tok *ucan.Token, service string) (dag.Path, cid.Cid, datamodel.Node, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidTask, fmt.Sprintf(format, a...))
	}
	if tok == nil || tok.Invocation == nil {
		return dag.Path{}, cid.Undef, nil, bad("not an invocation")
	}
	in := tok.Invocation
	switch {
	case !IsWriteCommand(in.Command):
		return dag.Path{}, cid.Undef, nil, bad("%s: command %q is not one of the runner's writes", tok.CID, in.Command)
	case in.Issuer != service || in.Subject != service:
		return dag.Path{}, cid.Undef, nil, bad("%s: issued by %s on %s, want the service %s on itself", tok.CID, in.Issuer, in.Subject, service)
	}
	p, err := PathOf(in.Args)
	if err != nil {
		return dag.Path{}, cid.Undef, nil, fmt.Errorf("%s: %w", tok.CID, err)
	}
	if p.Subject != service || p.Collection != Name || len(p.Fields) > 0 {
		return dag.Path{}, cid.Undef, nil, bad("%s: path %s is not a task entry of the service", tok.CID, p)
	}
	task, err := cid.Decode(p.Key)
	if err != nil {
		return dag.Path{}, cid.Undef, nil, bad("%s: path %s: key is not a CID: %v", tok.CID, p, err)
	}
	state, err := in.Args.LookupByString("state")
	if err != nil || state == nil || state.Kind() != datamodel.Kind_Map {
		return dag.Path{}, cid.Undef, nil, bad("%s: args.state is not a map", tok.CID)
	}
	return p, task, state, nil
}
