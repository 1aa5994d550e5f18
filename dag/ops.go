package dag

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/internal/cidtext"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// MaxValueSize is the largest dag/put value, in bytes of its DAG-CBOR encoding (1 MiB).
const MaxValueSize = 1 << 20

// Result is the outcome of an operation.
type Result struct {
	// Receipt is the operation's receipt: a new receipt, the entry's head receipt (a put
	// or remove that changed nothing), the stored receipt of an earlier run of the same
	// task (Repeat), or an error receipt.
	Receipt *ucan.Token
	// Out is the receipt's outcome.
	Out receipts.Out
	// Err is the business failure when the operation failed (Out.Err set); errors.Is
	// works with the sentinels (ErrEntryExists, ErrNotFound, …). Nil on success.
	Err error
	// Entry is the entry after the operation (put, remove, transition, get), if any.
	Entry *Entry
	// Page is the result of a select.
	Page *Page
	// Repeat is true when the same task ran before and its stored result is returned.
	Repeat bool
	// Blocks are blocks the reply should carry with the receipt: the head receipt of a
	// get, the page block of a select.
	Blocks []Block
}

// Block is a block with its CID.
type Block struct {
	CID cid.Cid
	Raw []byte
}

// Page is one page of a select, in insertion order.
type Page struct {
	Entries []*Entry
	// Cursor continues the select after the last entry; "" when no entries are left.
	Cursor string
}

// OpOption adds to an operation.
type OpOption func(*opConfig)

type opConfig struct {
	message cid.Cid
	at      time.Time
	turn    *Turn
	// pre is the caller's write (WithPreWrite).
	pre func(kt kv.Tx) error
}

// WithTime runs the operation at time at instead of the engine's clock: its receipts'
// meta.ts and what its machines see as Tx.Now. For replay, which reproduces each
// operation at its original time while committing many in one transaction.
func WithTime(at time.Time) OpOption { return func(c *opConfig) { c.at = at } }

// Turn chains operations run concurrently so that they join the committer's queue in the
// order of the chain, and so run (and take commit sequences) in that order: each waits
// for the one before to be queued. Made by NewTurn, given with WithTurn.
type Turn struct {
	prev   <-chan struct{}
	queued chan struct{}
	once   sync.Once
}

// NewTurn returns the turn after prev (nil: the first of a chain).
func NewTurn(prev *Turn) *Turn {
	t := &Turn{queued: make(chan struct{})}
	if prev != nil {
		t.prev = prev.queued
	}
	return t
}

// Pass lets the next turn go: the engine calls it once the operation is queued, and the
// caller must call it when the operation has returned (it may have ended before joining
// the queue). Calling it more than once is harmless.
func (t *Turn) Pass() { t.once.Do(func() { close(t.queued) }) }

// WithTurn makes the operation join the committer's queue in turn t (see Turn).
func WithTurn(t *Turn) OpOption { return func(c *opConfig) { c.turn = t } }

// WithMessage records that the invocation arrived in the agent message msg: the index
// invocation/<inv>/<msg>.in is written in the operation's transaction.
func WithMessage(msg cid.Cid) OpOption { return func(c *opConfig) { c.message = msg } }

// WithPreWrite makes the operation's transaction run fn first, before anything of the
// operation, with the transaction's kv.Tx: a record that must be durable exactly when the
// operation is, never after it. The server archives so the request message of a single
// invocation (archive.Archive.Stage: written before anything of the run, in the run's own
// transaction, at one commit wait instead of two). As an Archiver, fn writes only keys of
// its own, outside the engine's prefixes. fn runs in every transaction that runs the
// operation: a re-run with only its failure recorded (a machine that failed after
// writing, a state too large for a receipt) and a repeat of a task that has a result run
// it too, so what commits holds fn's writes once. An error from fn takes the operation
// out of its batch as an internal failure: nothing of it commits. Put, Remove, Transition,
// Fail and Engine.RecordReply honour it.
func WithPreWrite(fn func(kt kv.Tx) error) OpOption { return func(c *opConfig) { c.pre = fn } }

func config(opts []OpOption) opConfig {
	var c opConfig
	for _, o := range opts {
		o(&c)
	}
	return c
}

// preWrite runs the WithPreWrite write, if any, in the transaction of kt.
func (c *opConfig) preWrite(kt kv.Tx) error {
	if c.pre == nil {
		return nil
	}
	if err := c.pre(kt); err != nil {
		return fmt.Errorf("the operation's pre-write: %w", err)
	}
	return nil
}

// writeOp is the shared state of a put, remove or transition.
type writeOp struct {
	e    *Engine
	inv  *ucan.Token
	task cid.Cid
	p    Path
	cfg  opConfig
	pre  error // failure found before the transaction

	// Keys built before the transaction, outside the committer's serial section.
	invBlockKey, taskInvKey, taskKey []byte
	// self: inv is the service's own, with no message; archived by begin (Options.Archive).
	self bool

	// output, reset on every run
	res *Result
	pr  *pendingReceipt // the state change's receipt, until issued
}

// reads appends to keys the keys begin reads first: the task's result and then (put,
// remove, transition) the entry, unless the operation failed before its transaction.
func (o *writeOp) reads(keys [][]byte) [][]byte {
	keys = append(keys, o.taskKey)
	if o.pre == nil {
		keys = append(keys, entryKey(o.p))
	}
	return keys
}

// newWriteOp checks what can be checked before the transaction.
func (e *Engine) newWriteOp(inv *ucan.Token, p Path, opts []OpOption) (*writeOp, error) {
	if inv == nil || inv.Invocation == nil {
		return nil, fmt.Errorf("dag: operation needs an invocation token")
	}
	task, err := inv.Invocation.Task()
	if err != nil {
		return nil, fmt.Errorf("computing task of %s: %w", inv.CID, err)
	}
	cfg := config(opts)
	ts := cidtext.String(task)
	return &writeOp{
		e: e, inv: inv, task: task, p: p, cfg: cfg,
		invBlockKey: blockKey(inv.CID),
		taskInvKey:  taskInvocationKeyOf(ts, inv.CID),
		taskKey:     taskResultKeyOf(ts),
		self:        e.archive != nil && inv.Invocation.Issuer == e.service && !cfg.message.Defined(),
	}, nil
}

// collection resolves p's collection, checking that p is in canonical form and, for
// writes, who may write.
func (e *Engine) collection(p Path, inv *ucan.Token, write bool) (*resolved, error) {
	// Paths built by hand must be what ParsePath and Canonical would have made of them.
	if q, err := ParsePath(p.String()); err != nil {
		return nil, err
	} else if q.Key != p.Key || q.Collection != p.Collection || q.Subject != p.Subject || len(q.Fields) != len(p.Fields) {
		return nil, failure(ErrInvalidPath, "%s is not in canonical form (%s)", p, q)
	}
	c, q, err := e.resolve(p)
	if err != nil {
		return nil, err
	}
	if q.Key != p.Key {
		return nil, failure(ErrInvalidPath, "%s is not in canonical form (%s)", p, q)
	}
	if write && c.Writers == collection.ServiceOnly && inv.Invocation.Issuer != e.service {
		owner := "a space"
		if p.Subject == e.service {
			owner = "the service"
		}
		return nil, failure(ErrReadOnlyCollection, "collection %q of %s is written by the service only", p.Collection, owner)
	}
	return c, nil
}

// entryMachine checks that p names an entry (<collection>/<key>, no fields) for the write
// op verb and resolves its collection, who may write it, and its machine.
func (e *Engine) entryMachine(verb string, p Path, inv *ucan.Token) (*resolved, Machine, error) {
	if !p.IsEntry() || len(p.Fields) > 0 {
		return nil, nil, failure(ErrInvalidPath, "%s needs an entry path <collection>/<key>, got %s", verb, p)
	}
	c, err := e.collection(p, inv, true)
	if err != nil {
		return nil, nil, err
	}
	if c.Machine == nil {
		return c, nil, failure(ErrUnknownCollection, "collection %q has no machine in this service", c.Name)
	}
	return c, c.Machine, nil
}

// begin runs the common start of a write job: reset outputs, task dedup, index keys.
// It reports whether the job is done (a repeat).
func (o *writeOp) begin(t *Tx) (bool, error) {
	o.res, o.pr = nil, nil
	kt := t.kt
	// Every invocation of the task is stored and indexed, repeats included.
	if err := kt.Put(o.invBlockKey, o.inv.Raw); err != nil {
		return false, fmt.Errorf("storing block %s: %w", o.inv.CID, err)
	}
	if err := kt.Put(o.taskInvKey, o.inv.CID.Bytes()); err != nil {
		return false, fmt.Errorf("indexing task: %w", err)
	}
	if o.cfg.message.Defined() {
		if err := kt.Put(invocationMessageKey(o.inv.CID, o.cfg.message, false), o.cfg.message.Bytes()); err != nil {
			return false, fmt.Errorf("indexing invocation: %w", err)
		}
		t.b.indexed(o.inv.CID, o.cfg.message)
	}
	if o.self {
		// The service's own invocation made outside a transaction (Engine.Invoke):
		// archived with what it causes, unless it already was (a task's invocation,
		// archived when scheduled; a re-run).
		done, err := archived(kt, o.inv.CID)
		if err != nil {
			return false, err
		}
		if !done {
			if _, err := o.e.archiveSelf(kt, o.inv, o.task); err != nil {
				return false, err
			}
		}
	}
	tk := o.taskKey
	if err := t.b.needs(tk); err != nil {
		return false, err
	}
	v, err := kt.Get(tk)
	if err == nil {
		c, err := cid.Cast(v)
		if err != nil {
			return false, fmt.Errorf("%w: task result of %s: %w", ErrCorrupt, o.task, err)
		}
		raw, err := t.Block(c)
		if err != nil {
			return false, fmt.Errorf("task %s: stored result: %w", o.task, err)
		}
		if err := o.setReceipt(raw); err != nil {
			return false, err
		}
		o.res.Repeat = true
		if o.p.IsEntry() {
			if o.res.Entry, err = t.entry(o.p); err != nil {
				return false, err
			}
		}
		return true, nil
	}
	if !errors.Is(err, kv.ErrNotFound) {
		return false, fmt.Errorf("reading task result: %w", err)
	}
	if o.inv.Invocation.Issuer != o.e.service {
		// A client's invocation run for the first time: an earlier run would have
		// recorded the task's result, so no record ran it before (Record.Fresh). The
		// service's own may have (a task runner's claims): the exporter reads those.
		t.b.know(o.inv.CID, o.task)
	}
	return false, nil
}

// setReceipt sets the result from stored receipt bytes.
func (o *writeOp) setReceipt(raw []byte) error {
	tok, r, err := receipts.Decode(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	o.res = &Result{Receipt: tok, Out: r.Out}
	if r.Out.Err != nil {
		o.res.Err = &Error{Name: r.Out.Err.Name, Message: r.Out.Err.Message}
	}
	return nil
}

// finish records the task result.
func (o *writeOp) finish(t *Tx) error {
	if err := t.kt.Put(o.taskKey, o.res.Receipt.CID.Bytes()); err != nil {
		return fmt.Errorf("recording task result: %w", err)
	}
	return nil
}

// failWith issues and stores an error receipt for the operation.
func (o *writeOp) failWith(t *Tx, ferr error) error {
	seq, err := t.LastSeq()
	if err != nil {
		return err
	}
	name := ErrorName(ferr)
	r := receipts.Receipt{
		Ran:  o.inv.CID,
		Out:  receipts.Out{Err: &receipts.Failure{Name: name, Message: Message(ferr)}},
		Path: o.p.String(),
		TS:   t.Now().UnixMilli(),
		Seq:  seq,
	}
	tok, err := t.Issue(r)
	if err != nil {
		return err
	}
	o.res = &Result{Receipt: tok, Out: r.Out, Err: ferr}
	return o.finish(t)
}

// write stores state (and value) as the next step of the entry at o's path after cur,
// caused by o's invocation, and records it as the result (see changed).
func (o *writeOp) write(t *Tx, state datamodel.Node, value cid.Cid, cur *Entry, restart bool) error {
	ne, pr, err := t.write(o.p, o.inv.CID, state, value, cur, restart, t.fx)
	if err != nil {
		return err
	}
	return o.changed(t, ne, pr)
}

// changed records a state change: the receipt and the task result are set when the
// pending receipt is issued.
func (o *writeOp) changed(t *Tx, e *Entry, pr *pendingReceipt) error {
	res := &Result{Out: receipts.Out{Ok: e.State}, Entry: e}
	o.res, o.pr = res, pr
	tk := o.taskKey
	b := t.b
	pr.apply = append(pr.apply, func(tok *ucan.Token) error {
		res.Receipt = tok
		if err := b.raw.Put(tk, tok.CID.Bytes()); err != nil {
			return fmt.Errorf("recording task result: %w", err)
		}
		return nil
	})
	b.pendingKeys[string(tk)] = struct{}{}
	return nil
}

func (o *writeOp) unchanged(t *Tx, e *Entry) error {
	raw, err := t.Block(e.Head)
	if err != nil {
		return fmt.Errorf("head receipt of %s: %w", e.Path, err)
	}
	if err := o.setReceipt(raw); err != nil {
		return err
	}
	o.res.Entry = e
	return o.finish(t)
}

// hook runs a machine hook, classifying its error: business failures become error
// receipts (or a dirty failure when the hook wrote), others abort the job.
func (o *writeOp) hook(t *Tx, fn func() error) (failed bool, err error) {
	before := t.kt.n
	herr := fn()
	if herr == nil {
		return false, nil
	}
	if ErrorName(herr) == "" {
		return false, herr
	}
	if t.kt.n != before {
		return false, &dirtyFailure{err: herr}
	}
	return true, o.failWith(t, herr)
}

// runWrite queues the write job, waits for it to commit and returns its result.
func (e *Engine) runWrite(ctx context.Context, g *gate, o *writeOp, prep any, fn func(t *Tx) error) (*Result, error) {
	j := &job{gate: g, inv: o.inv, prep: prep, now: o.cfg.at, turn: o.cfg.turn, op: o}
	j.run = func(t *Tx) error {
		if err := o.cfg.preWrite(t.kt); err != nil {
			return err
		}
		repeat, err := o.begin(t)
		if err != nil || repeat {
			return err
		}
		switch {
		case j.fail != nil:
			err = o.failWith(t, j.fail)
		case o.pre != nil:
			err = o.failWith(t, o.pre)
		default:
			err = fn(t)
		}
		if err != nil || !o.self {
			return err
		}
		// The service's own invocation: its reply is archived with it, as the server
		// archives its replies to clients (a repeat's reply was archived the first time).
		return o.archiveReply(t)
	}
	if err := e.submit(ctx, j); err != nil {
		return nil, err
	}
	return o.res, nil
}

// Put runs dag/put of value at p for the (already authorised) invocation inv. See
// DESIGN §2: no entry, or a failed/expired/removed one → Machine.Start; the same value on a
// live entry → Machine.Same; a different value → Machine.Update. Business failures are
// results with an error receipt (Result.Err); the error return is for failures that left
// no receipt (storage, context, closed engine).
func (e *Engine) Put(ctx context.Context, inv *ucan.Token, p Path, value datamodel.Node, opts ...OpOption) (*Result, error) {
	g := e.enter()
	defer func() { g.leave() }()
	o, err := e.newWriteOp(inv, p, opts)
	if err != nil {
		return nil, err
	}
	var m Machine
	var valueCID cid.Cid
	var prep any
	o.pre = func() error {
		c, mm, err := e.entryMachine("put", p, inv)
		if err != nil {
			return err
		}
		m = mm
		if value == nil {
			return failure(ErrInvalidValue, "put of %s has no value", p)
		}
		// Normalize validates and turns Ints given for Floats into Floats, so the
		// stored value (and its CID) is the same whichever form was sent.
		if value, err = e.schema.Normalize(c.schema.Input, value); err != nil {
			return fmt.Errorf("%w: value of %s: %w", ErrInvalidValue, p, err)
		}
		raw, err := encodeNode(value)
		if err != nil {
			return failure(ErrInvalidValue, "value of %s cannot be encoded as DAG-CBOR: %v", p, err)
		}
		if len(raw) > MaxValueSize {
			return failure(ErrInvalidValue, "value of %s is %d bytes, more than the limit of %d", p, len(raw), MaxValueSize)
		}
		if err := checkKeyField(c, p, value); err != nil {
			return err
		}
		if valueCID, err = cborCID(raw); err != nil {
			return err
		}
		if pr, ok := m.(Preparer); ok {
			// Slow work (I/O): the committer does not wait for it.
			g.leave()
			prep, err = pr.Prepare(ctx, p, value)
			g = e.enter()
			if err != nil {
				return err
			}
		}
		return nil
	}()
	if o.pre != nil && ErrorName(o.pre) == "" {
		return nil, o.pre
	}
	return e.runWrite(ctx, g, o, prep, func(t *Tx) error {
		cur, err := t.entry(p)
		if err != nil {
			return err
		}
		var state datamodel.Node
		switch {
		case cur == nil || !cur.Live():
			if failed, err := o.hook(t, func() (err error) { state, err = m.Start(t, p, value, cur); return }); failed || err != nil {
				return err
			}
			return o.write(t, state, valueCID, cur, true)
		case cur.Value.Equals(valueCID):
			var adv bool
			if failed, err := o.hook(t, func() (err error) { state, adv, err = m.Same(t, cur); return }); failed || err != nil {
				return err
			}
			if !adv {
				return o.unchanged(t, cur)
			}
			return o.write(t, state, cur.Value, cur, false)
		default:
			if failed, err := o.hook(t, func() (err error) { state, err = m.Update(t, cur, value); return }); failed || err != nil {
				return err
			}
			if same, err := sameState(cur, state); err != nil || same {
				if err != nil {
					return err
				}
				return o.unchanged(t, cur)
			}
			return o.write(t, state, valueCID, cur, false)
		}
	})
}

func sameState(cur *Entry, state datamodel.Node) (bool, error) {
	if state == nil {
		return false, fmt.Errorf("%w: machine returned no state for %s", ErrInvalidState, cur.Path)
	}
	raw, err := encodeNode(state)
	if err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrInvalidState, cur.Path, err)
	}
	return string(raw) == string(cur.stateRaw), nil
}

// checkKeyField checks that the input's key field (store link, upload root) is the key.
func checkKeyField(c *resolved, p Path, value datamodel.Node) error {
	if c.KeyField == "" {
		return nil
	}
	v, err := value.LookupByString(c.KeyField)
	if err != nil {
		return failure(ErrInvalidValue, "value of %s has no %q", p, c.KeyField)
	}
	l, err := v.AsLink()
	if err != nil {
		return failure(ErrInvalidValue, "%q of the value of %s is not a link", c.KeyField, p)
	}
	cl, ok := l.(cidlink.Link)
	if !ok || cidtext.String(cl.Cid) != p.Key {
		return failure(ErrInvalidValue, "%q of the value (%s) is not the key of %s", c.KeyField, l, p)
	}
	return nil
}

// Remove runs dag/remove of the entry at p: Machine.Remove moves a live entry to removed
// (a tombstone that keeps the chain); a missing entry is ErrNotFound; an entry already
// removed returns its head receipt.
func (e *Engine) Remove(ctx context.Context, inv *ucan.Token, p Path, opts ...OpOption) (*Result, error) {
	g := e.enter()
	defer g.leave()
	o, err := e.newWriteOp(inv, p, opts)
	if err != nil {
		return nil, err
	}
	var m Machine
	o.pre = func() error {
		var err error
		_, m, err = e.entryMachine("remove", p, inv)
		return err
	}()
	if o.pre != nil && ErrorName(o.pre) == "" {
		return nil, o.pre
	}
	return e.runWrite(ctx, g, o, nil, func(t *Tx) error {
		cur, err := t.entry(p)
		if err != nil {
			return err
		}
		if cur == nil {
			return o.failWith(t, failure(ErrNotFound, "no entry at %s", p))
		}
		if cur.Status == StatusRemoved {
			return o.unchanged(t, cur)
		}
		var state datamodel.Node
		if failed, err := o.hook(t, func() (err error) { state, err = m.Remove(t, cur); return }); failed || err != nil {
			return err
		}
		return o.write(t, state, cur.Value, cur, false)
	})
}

// Transition runs a system transition (delivery, expiry, a task's result) of the entry at
// p through the machine's Transitioner. inv is the self-issued invocation that causes it
// (see Invoke). A nil state from the machine leaves the entry as is.
func (e *Engine) Transition(ctx context.Context, inv *ucan.Token, p Path, event string, data datamodel.Node, opts ...OpOption) (*Result, error) {
	g := e.enter()
	defer g.leave()
	o, err := e.newWriteOp(inv, p, opts)
	if err != nil {
		return nil, err
	}
	var tr Transitioner
	o.pre = func() error {
		c, m, err := e.entryMachine("transition", p, inv)
		if err != nil {
			return err
		}
		var ok bool
		if tr, ok = m.(Transitioner); !ok {
			return failure(ErrInvalidTransition, "collection %q has no transitions", c.Name)
		}
		return nil
	}()
	if o.pre != nil && ErrorName(o.pre) == "" {
		return nil, o.pre
	}
	return e.runWrite(ctx, g, o, nil, func(t *Tx) error {
		cur, err := t.entry(p)
		if err != nil {
			return err
		}
		if cur == nil {
			return o.failWith(t, failure(ErrNotFound, "no entry at %s", p))
		}
		var state datamodel.Node
		if failed, err := o.hook(t, func() (err error) { state, err = tr.Transition(t, cur, event, data); return }); failed || err != nil {
			return err
		}
		if state == nil {
			return o.unchanged(t, cur)
		}
		return o.write(t, state, cur.Value, cur, false)
	})
}

// Fail issues and stores an error receipt for an invocation that failed before it reached
// an operation (arguments that do not parse, missing authority). It is not recorded as the
// task's result, so a corrected retry of the task runs.
func (e *Engine) Fail(ctx context.Context, inv *ucan.Token, ferr error, opts ...OpOption) (*Result, error) {
	if inv == nil {
		return nil, fmt.Errorf("dag: Fail needs an invocation token")
	}
	name := ErrorName(ferr)
	if name == "" {
		name = "Failure"
	}
	cfg := config(opts)
	var res *Result
	err := e.submit(ctx, &job{now: cfg.at, turn: cfg.turn, run: func(t *Tx) error {
		if err := cfg.preWrite(t.kt); err != nil {
			return err
		}
		if err := t.PutBlock(inv.CID, inv.Raw); err != nil {
			return err
		}
		if cfg.message.Defined() {
			if err := t.kt.Put(invocationMessageKey(inv.CID, cfg.message, false), cfg.message.Bytes()); err != nil {
				return err
			}
			t.b.indexed(inv.CID, cfg.message)
		}
		seq, err := t.LastSeq()
		if err != nil {
			return err
		}
		r := receipts.Receipt{Ran: inv.CID, Out: receipts.Out{Err: &receipts.Failure{Name: name, Message: Message(ferr)}}, TS: t.Now().UnixMilli(), Seq: seq}
		tok, err := t.Issue(r)
		if err != nil {
			return err
		}
		res = &Result{Receipt: tok, Out: r.Out, Err: ferr}
		return nil
	}})
	return res, err
}

// RecordReply writes the index invocation/<inv>/<msg>.out for each invocation answered in
// the reply message msg. Of opts it honours WithPreWrite, so that the server archives the
// reply message and indexes it in one transaction (one job of the group commit, not two).
func (e *Engine) RecordReply(ctx context.Context, msg cid.Cid, invs []cid.Cid, opts ...OpOption) error {
	cfg := config(opts)
	return e.Update(ctx, func(t *Tx) error {
		if err := cfg.preWrite(t.kt); err != nil {
			return err
		}
		for _, inv := range invs {
			if err := t.kt.Put(invocationMessageKey(inv, msg, true), msg.Bytes()); err != nil {
				return fmt.Errorf("indexing reply: %w", err)
			}
		}
		return nil
	})
}

// TaskResult returns the CID of the stored result receipt of task, or ErrNotFound.
func (e *Engine) TaskResult(ctx context.Context, task cid.Cid) (cid.Cid, error) {
	var c cid.Cid
	err := e.kv.View(ctx, func(kt kv.Tx) error {
		v, err := kt.Get(taskResultKey(task))
		if errors.Is(err, kv.ErrNotFound) {
			return failure(ErrNotFound, "task %s has no result", task)
		}
		if err != nil {
			return err
		}
		c, err = cid.Cast(v)
		return err
	})
	return c, err
}
