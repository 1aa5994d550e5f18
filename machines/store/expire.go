package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/blockindex"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/ucan"
)

// Handlers returns the task handlers of the store machine, by command, for the task
// runner of e: ExpireCommand, and BuildCommand when the machine keeps a block index.
func (m *Machine) Handlers(e *dag.Engine) map[string]task.Handler {
	h := map[string]task.Handler{ExpireCommand: m.ExpireHandler(e)}
	if m.o.Index != nil {
		h[BuildCommand] = m.BuildHandler(e)
	}
	return h
}

// scheduleBuild schedules the task indexing the blocks of link from its stored bytes and
// lists it in the fx of the operation's receipt.
func (m *Machine) scheduleBuild(tx *dag.Tx, link cid.Cid) error {
	args, err := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "content", qp.Link(cidlink.Link{Cid: link}))
	})
	if err != nil {
		return err
	}
	t, err := task.Schedule(tx, task.Task{Cmd: BuildCommand, Args: args})
	if err != nil {
		return fmt.Errorf("scheduling the block index of %s: %w", link, err)
	}
	tx.Effect(t)
	return nil
}

// BuildHandler returns the handler of BuildCommand tasks: blockindex.Build from the
// CAR's bytes at its blob key. Bytes that are not a CAR fail the task for good.
func (m *Machine) BuildHandler(e *dag.Engine) task.Handler {
	return func(ctx context.Context, inv *ucan.Token) error {
		if inv == nil || inv.Invocation == nil {
			return task.Permanent(fmt.Errorf("%w: build task without an invocation", task.ErrInvalidTask))
		}
		cn, err := inv.Invocation.Args.LookupByString("content")
		if err != nil {
			return task.Permanent(fmt.Errorf("%w: build task without content", task.ErrInvalidTask))
		}
		l, err := cn.AsLink()
		cl, ok := l.(cidlink.Link)
		if err != nil || !ok {
			return task.Permanent(fmt.Errorf("%w: build task content is not a CID", task.ErrInvalidTask))
		}
		err = blockindex.Build(ctx, e, m.o.Blobs, carwhere.BlobKey(cl.Cid), cl.Cid)
		if carscan.Invalid(err) {
			return task.Permanent(err)
		}
		return err
	}
}

// ExpireHandler returns the handler of expiry tasks: it moves the task's pending entry
// to expired through Engine.Transition with the task's own invocation (so a re-run gets
// the stored receipt). A task whose entry is gone, done, removed or pending with another
// deadline finishes without effect; a task run before its deadline returns ErrNotDue,
// which the runner retries.
func (m *Machine) ExpireHandler(e *dag.Engine) task.Handler {
	return func(ctx context.Context, inv *ucan.Token) error {
		if inv == nil || inv.Invocation == nil {
			return task.Permanent(fmt.Errorf("%w: expiry task without an invocation", task.ErrInvalidTask))
		}
		p, err := task.PathOf(inv.Invocation.Args)
		if err != nil {
			return task.Permanent(err)
		}
		deadline, err := intArg(inv.Invocation.Args, "expires")
		if err != nil {
			return task.Permanent(fmt.Errorf("%w: expiry of %s: %v", task.ErrInvalidTask, p, err))
		}
		cur, err := e.Entry(ctx, p)
		if errors.Is(err, dag.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if exp, ok := expiresOf(cur.State); ok && cur.Status == StatusPending && exp == deadline && m.o.Clock().Before(time.UnixMilli(exp)) {
			return fmt.Errorf("%w: %s expires at %s", ErrNotDue, p, time.UnixMilli(exp).UTC().Format(time.RFC3339))
		}
		data, err := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "expires", qp.Int(deadline))
		})
		if err != nil {
			return err
		}
		res, err := e.Transition(ctx, inv, p, EventExpire, data)
		if err != nil {
			return err
		}
		if res.Err != nil && !errors.Is(res.Err, dag.ErrNotFound) {
			return task.Permanent(fmt.Errorf("expiring %s: %w", p, res.Err))
		}
		return nil
	}
}
