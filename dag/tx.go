package dag

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/cbor"
	"github.com/w3dag/w3dag/internal/cidtext"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// Tx is an operation's transaction as machines see it: read entries, write entries of
// other paths with their own receipts (carwhere, usage, metrics), add to counters, store
// blocks, issue self-invocations and receipts, and write any other key through KV.
// Everything written through a Tx commits atomically with the operation. A Tx must not be
// used after the hook it was passed to returns, nor from other goroutines.
type Tx struct {
	e        *Engine
	kt       *countTx
	b        *batchState
	j        *job
	inv      *ucan.Token
	prepared any
	// fx are the effects of the operation (Effect): a Tx lives for one attempt of one
	// operation, so a retried batch starts with none.
	fx []cid.Cid
	// invoked counts the Invoke calls of this Tx (the nonce of each is derived from it).
	invoked uint32
}

// countTx counts the writes made through it, so the engine can tell whether a failing
// machine wrote anything.
type countTx struct {
	kv.Tx
	n int
}

func (c *countTx) Put(k, v []byte) error       { c.n++; return c.Tx.Put(k, v) }
func (c *countTx) Delete(k []byte) error       { c.n++; return c.Tx.Delete(k) }
func (c *countTx) Add(k []byte, d int64) error { c.n++; return c.Tx.Add(k, d) }

// batchState is shared by the operations of one group-commit batch; it is rebuilt on
// every attempt of the batch.
type batchState struct {
	e         *Engine
	raw       kv.Tx // the batch's transaction, for writes that no job's count includes
	now       time.Time
	seqLoaded bool
	seq       uint64 // last sequence assigned (or committed before the batch)
	dirtySeq  bool
	events    []Record
	// invoked are the invocations Tx.Invoke and Tx.Archive stored in this attempt of the
	// batch, so that the records of receipts that ran them carry their bytes.
	invoked map[cid.Cid]*ucan.Token
	// fresh are the invocations whose history the batch knows (Record.Fresh), with their
	// task when computed (cid.Undef: not); in is, for the invocations the batch indexed
	// as arriving in messages, the first of those by key; ran is, for each of events, the
	// invocation its receipt ran (cid.Undef: unknown).
	fresh map[cid.Cid]cid.Cid
	in    map[cid.Cid]cid.Cid
	ran   []cid.Cid

	// Receipts of operations are issued (encoded and signed) in parallel, when a later
	// read needs what depends on them or at the end of the batch: pending holds them
	// with the writes that need their CID, pendingKeys the keys those writes will set.
	pending     []*pendingReceipt
	pendingKeys map[string]struct{}
	err         error // sticky failure of a flush

	// commits is set in the committer's batches (not in views and reads, nor with
	// Options.NoFinish): only those run finishers, the work packages left for the end of
	// the batch (Tx.Batch).
	commits     bool
	finishers   map[string]Finisher
	finishOrder []Finisher

	// Signing workers (GOMAXPROCS of them, started with the first pending receipt): they
	// sign while the committer runs the batch's operations, and the committer joins them
	// when it flushes. (GOMAXPROCS-1 workers sign too little when the committer's core is
	// shared with the garbage collector and callers: measured slower on 2 cores.)
	workers  int
	queue    chan *pendingReceipt
	wg       sync.WaitGroup
	stopping atomic.Bool
}

// newBatchState returns the state of one attempt of a batch of ops operations (a hint:
// the batch may grow; zero for views and reads); stop must be called when the attempt ends.
// Its per-operation slices and pending keys are sized for ops up front, so that a batch's
// commit-log records are not copied again and again as they grow.
func newBatchState(e *Engine, raw kv.Tx, ops int) *batchState {
	b := &batchState{e: e, raw: raw, now: e.clock(), workers: runtime.GOMAXPROCS(0)}
	// A write operation leaves two pending keys (its entry's and its task's result).
	b.pendingKeys = make(map[string]struct{}, 2*ops)
	if ops > 0 {
		b.events = make([]Record, 0, ops)
		b.ran = make([]cid.Cid, 0, ops)
	}
	return b
}

// pendingReceipt is a receipt to issue and the writes that need its token.
type pendingReceipt struct {
	r     receipts.Receipt
	state *Entry // whose stateRaw is encoded with the receipt
	job   *job
	tok   *ucan.Token
	err   error
	apply []func(tok *ucan.Token) error

	// claimed is set by whoever issues the receipt (a signing worker or the committer at
	// flush); ready is closed once tok or err is set.
	claimed atomic.Bool
	ready   chan struct{}
}

// flushError attributes a failure to issue or apply a pending receipt to its job.
type flushError struct {
	job *job
	err error
}

func (f *flushError) Error() string { return f.err.Error() }
func (f *flushError) Unwrap() error { return f.err }

// signQueue is how many receipts can wait for a signing worker; a receipt that finds the
// queue full is issued by the committer when the batch flushes.
const signQueue = 1024

// issue encodes p's state and signs its receipt. It runs on a signing worker or on the
// committer, and touches nothing but p.
func (b *batchState) issue(p *pendingReceipt) {
	defer close(p.ready)
	defer func() {
		if r := recover(); r != nil {
			p.err = fmt.Errorf("%w: issuing receipt: %v", errPanic, r)
		}
	}()
	if b.stopping.Load() {
		p.err = errAbortBatch
		return
	}
	r := p.r
	if p.state != nil {
		// The state is encoded once: its bytes are the entry record's and, spliced,
		// out.ok's in the receipt (which holds the same state).
		enc, err := cbor.NewEncoded(p.state.State)
		if err != nil {
			p.err = fmt.Errorf("%w: %s: encoding state: %w", ErrInvalidState, p.state.Path, err)
			return
		}
		p.state.stateRaw = enc.Raw()
		r.Out.Ok = enc
	}
	p.tok, p.err = receipts.Issue(b.e.signer, r, b.e.seal)
}

// enqueue adds p to the batch's pending receipts and hands it to the signing workers, so
// that receipts are signed on the other cores while the committer runs the next
// operations of the batch (their content is fixed once the operation decided it: seq,
// origin, state). The workers start with the batch's first receipt.
func (b *batchState) enqueue(p *pendingReceipt) {
	p.ready = make(chan struct{})
	b.pending = append(b.pending, p)
	if b.workers == 0 {
		return
	}
	if b.queue == nil {
		b.queue = make(chan *pendingReceipt, signQueue)
		for range b.workers {
			b.wg.Add(1)
			go func(queue <-chan *pendingReceipt) {
				defer b.wg.Done()
				for p := range queue {
					if p.claimed.CompareAndSwap(false, true) {
						b.issue(p)
					}
				}
			}(b.queue)
		}
	}
	select {
	case b.queue <- p:
	default:
	}
}

// stop ends the batch's signing workers and waits for them: receipts not yet issued are
// skipped. It is called when the batch's transaction function returns, committed or not.
func (b *batchState) stop() {
	b.stopping.Store(true)
	if b.queue != nil {
		close(b.queue)
		b.queue = nil
	}
	b.wg.Wait()
}

// flushPending issues the pending receipts no worker has taken yet, waits for the others,
// and applies their writes in the order the receipts were made.
func (b *batchState) flushPending() error {
	if b.err != nil {
		return b.err
	}
	ps := b.pending
	if len(ps) == 0 {
		return nil
	}
	b.pending = nil
	clear(b.pendingKeys)
	// The workers take receipts from the front; the committer signs from the back what
	// they have not taken, so that the two meet in the middle instead of the committer
	// waiting for each receipt in turn. Between its own receipts the committer applies
	// the writes of those already signed at the front, in order.
	next := 0
	apply := func(wait bool) error {
		for ; next < len(ps); next++ {
			p := ps[next]
			if wait {
				<-p.ready
			} else {
				select {
				case <-p.ready:
				default:
					return nil
				}
			}
			if p.err != nil {
				b.err = &flushError{job: p.job, err: p.err}
				return b.err
			}
			for _, f := range p.apply {
				if err := f(p.tok); err != nil {
					b.err = &flushError{job: p.job, err: err}
					return b.err
				}
			}
		}
		return nil
	}
	for i := len(ps) - 1; i >= next; i-- {
		if p := ps[i]; p.claimed.CompareAndSwap(false, true) {
			b.issue(p)
			if err := apply(false); err != nil {
				return err
			}
		}
	}
	return apply(true)
}

// needs flushes pending receipts when key is one their writes will set.
func (b *batchState) needs(key []byte) error {
	if b.err != nil {
		return b.err
	}
	if _, ok := b.pendingKeys[string(key)]; ok {
		return b.flushPending()
	}
	return nil
}

func (b *batchState) loadSeq(kt kv.Tx) error {
	if b.seqLoaded {
		return nil
	}
	v, err := kt.Get([]byte(keySeq))
	switch {
	case errors.Is(err, kv.ErrNotFound):
		b.seq = 0
	case err != nil:
		return fmt.Errorf("reading commit sequence: %w", err)
	case len(v) != 8:
		return fmt.Errorf("%w: commit sequence is %d bytes", ErrCorrupt, len(v))
	default:
		b.seq = beUint64(v)
	}
	b.seqLoaded = true
	return nil
}

func (b *batchState) flush(kt kv.Tx) error {
	if !b.dirtySeq {
		return nil
	}
	return kt.Put([]byte(keySeq), be64(b.seq))
}

// KV returns a view of the operation's kv transaction confined to the keys that start
// with prefix: a machine's own keys (pending uploads, task queues, usage accounting),
// each package with its prefix, listed in the package documentation. prefix must end in
// "/" and must not overlap the engine's own prefixes (block/, entry/, order/, log/,
// task/, invocation/, counter/, meta/): ErrReservedPrefix. Every key read, written,
// scanned or counted through the view must start with prefix (ErrOutsidePrefix). What is
// read through it includes the writes this batch has made so far; if they cannot be
// flushed, KV returns that error.
func (t *Tx) KV(prefix string) (kv.Tx, error) {
	if err := checkMachinePrefix(prefix); err != nil {
		return nil, err
	}
	// What is read through the view must include the receipts this batch has made so far.
	if err := t.b.flushPending(); err != nil {
		return nil, fmt.Errorf("flushing the batch's pending writes: %w", err)
	}
	return scopedTx{kt: t.kt, prefix: prefix}, nil
}

// Now returns the time of the transaction: the engine's clock, read once per batch, or the
// operation's own time (WithTime).
func (t *Tx) Now() time.Time {
	if t.j != nil && !t.j.now.IsZero() {
		return t.j.now
	}
	return t.b.now
}

// Service returns the service DID.
func (t *Tx) Service() string { return t.e.service }

// Invocation returns the invocation the operation runs (nil in Engine.Update).
func (t *Tx) Invocation() *ucan.Token { return t.inv }

// Prepared returns what the machine's Prepare returned for this put (nil otherwise).
func (t *Tx) Prepared() any { return t.prepared }

// LastSeq returns the last commit sequence assigned so far, including this transaction's.
func (t *Tx) LastSeq() (uint64, error) {
	if err := t.b.loadSeq(t.kt); err != nil {
		return 0, err
	}
	return t.b.seq, nil
}

// Entry returns the entry at p (fields are ignored), or an error wrapping ErrNotFound.
func (t *Tx) Entry(p Path) (*Entry, error) { return t.EntryAt(p.Entry()) }

// EntryAt returns the entry named by p with its fields, for collections whose entries are
// named by their key and the first fields of a path (a Reader's, e.g. metrics'
// <group>/<counter>), or an error wrapping ErrNotFound. For other entries it is Entry.
func (t *Tx) EntryAt(p Path) (*Entry, error) {
	e, err := t.entry(p)
	if err == nil && e == nil {
		return nil, failure(ErrNotFound, "no entry at %s", p)
	}
	return e, err
}

// entry returns the entry named by p (with its fields: Put checked them) or nil. A missing
// entry is the common case of a put: it costs no error value.
func (t *Tx) entry(p Path) (*Entry, error) {
	k := entryKey(p)
	if err := t.b.needs(k); err != nil {
		return nil, err
	}
	v, err := t.kt.Get(k)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading entry %s: %w", p, err)
	}
	return decodeEntry(p, v)
}

// Put writes state as the new state of the entry at p (a system write): it issues a
// receipt (ran = the invocation that caused it, which must be stored, e.g. Invocation().CID
// or a Tx.Invoke result), links the previous head as origin, updates the entry and the
// collection order (an entry that did not exist or was failed, expired or removed moves
// to the end) and appends to the commit log. p has no fields, except in collections
// whose machine is a Reader, where entries are named by their key and fields (metrics).
func (t *Tx) Put(p Path, ran cid.Cid, state datamodel.Node) (*Entry, error) {
	if !p.IsEntry() {
		return nil, fmt.Errorf("%w: %s is not an entry path", ErrInvalidWrite, p)
	}
	if len(p.Fields) > 0 {
		c, _, err := t.e.resolve(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidWrite, err)
		}
		if _, ok := c.Machine.(Reader); !ok {
			return nil, fmt.Errorf("%w: %s is not an entry path (only a Reader's entries are named by fields)", ErrInvalidWrite, p)
		}
	}
	if q, err := ParsePath(p.String()); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidWrite, err)
	} else if q.Key != p.Key || q.Collection != p.Collection || q.Subject != p.Subject || !slices.Equal(q.Fields, p.Fields) {
		return nil, fmt.Errorf("%w: %s is not a canonical entry path", ErrInvalidWrite, p)
	}
	if q, err := t.e.Canonical(p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidWrite, err)
	} else if q.Key != p.Key {
		return nil, fmt.Errorf("%w: %s is not a canonical entry path (%s)", ErrInvalidWrite, p, q)
	}
	prev, err := t.entry(p)
	if err != nil {
		return nil, err
	}
	e, _, err := t.write(p, ran, state, cid.Undef, prev, prev == nil || !prev.Live(), nil)
	if err != nil {
		return nil, err
	}
	// The machine gets the entry with its head: issue now.
	if err := t.b.flushPending(); err != nil {
		return nil, err
	}
	return e, nil
}

// Effect lists the invocation c (stored, e.g. a Tx.Invoke result or a scheduled task's
// invocation) in the fx of the receipt the engine issues for the current operation's
// state change (DESIGN §3): the new head of the operation's entry, by Put, Remove or
// Transition. Effects are listed in the order added, each once. They are dropped when the
// operation changes nothing (its head receipt is returned) or fails (an error receipt),
// and in Engine.Update, which issues no receipt of its own; receipts of system writes
// (Tx.Put) never carry them. Effects belong to one attempt of the operation: when the
// group commit retries a batch the hooks run again with a new Tx.
func (t *Tx) Effect(c cid.Cid) {
	if !c.Defined() {
		return
	}
	for _, x := range t.fx {
		if x.Equals(c) {
			return
		}
	}
	t.fx = append(t.fx, c)
}

// Finisher is work a package leaves for the end of a group-commit batch (Tx.Batch), such
// as writing each metric changed in the batch once instead of once per operation.
type Finisher interface {
	// Finish runs once per batch attempt, after the batch's operations and before its
	// receipts are flushed and the transaction commits, with a Tx that has no invocation
	// (as in Engine.Update). What it writes commits with the batch; an error fails the
	// whole batch (every operation in it returns the error), so it must only fail on
	// internal errors.
	Finish(t *Tx) error
}

// Batch returns the value the current batch keeps under key, made by mk the first time it
// is asked for in this attempt of the batch; its Finish runs when the batch's operations
// have run. Keys are the caller's package path or similar, so packages do not collide.
// Finishers run in the order they were made; one made by a Finish runs too. In
// Engine.View and reads there is no batch, and with Options.NoFinish none is finished:
// Batch returns nil.
func (t *Tx) Batch(key string, mk func() Finisher) Finisher {
	b := t.b
	if !b.commits {
		return nil
	}
	if f, ok := b.finishers[key]; ok {
		return f
	}
	if b.finishers == nil {
		b.finishers = map[string]Finisher{}
	}
	f := mk()
	b.finishers[key] = f
	b.finishOrder = append(b.finishOrder, f)
	return f
}

// Peek returns the value the current batch keeps under key (Batch), or nil when there is
// none yet.
func (t *Tx) Peek(key string) Finisher { return t.b.finishers[key] }

// finish runs the batch's finishers in the order they were made.
func (b *batchState) finish(kt kv.Tx) error {
	for i := 0; i < len(b.finishOrder); i++ {
		t := &Tx{e: b.e, kt: &countTx{Tx: kt}, b: b}
		if err := b.finishOrder[i].Finish(t); err != nil {
			return fmt.Errorf("finishing the batch: %w", err)
		}
	}
	return nil
}

// Add adds delta to the named counter.
func (t *Tx) Add(counter string, delta int64) error {
	return t.kt.Add(counterKey(counter), delta)
}

// Counter returns the value of the named counter.
func (t *Tx) Counter(counter string) (int64, error) {
	return t.kt.Counter(counterKey(counter))
}

// Block returns the stored block with CID c, or an error wrapping ErrNotFound.
func (t *Tx) Block(c cid.Cid) ([]byte, error) {
	v, err := t.kt.Get(blockKey(c))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, failure(ErrNotFound, "no block %s", c)
	}
	if err != nil {
		return nil, fmt.Errorf("reading block %s: %w", c, err)
	}
	return append([]byte(nil), v...), nil
}

// PutBlock stores raw as the block with CID c. The caller vouches that c is raw's CID.
func (t *Tx) PutBlock(c cid.Cid, raw []byte) error {
	if err := t.kt.Put(blockKey(c), raw); err != nil {
		return fmt.Errorf("storing block %s: %w", c, err)
	}
	return nil
}

// Invoke seals a self-issued invocation of the service (iss = sub = aud = service) and
// stores it as a block, so receipts can name it as ran. With Options.Archive it is
// archived as an agent message in this transaction, indexed as client invocations are
// (invocation/<inv>/<msg>.in, task/<task>/<inv>.invocation).
//
// Its nonce is not random but derived (SelfNonce) from the last commit sequence at the
// call, the CID of the Tx's invocation (none in Engine.Update and finishers) and how many
// Invoke calls this Tx made before: running the same operations in the same commit order
// (a replay of the archive) makes the same invocations, byte for byte. Two Txs with
// neither invocation nor write between them that invoke the same command with the same
// args get the same invocation (and so the same task): write first, or make the args
// differ.
func (t *Tx) Invoke(cmd string, args datamodel.Node) (*ucan.Token, error) {
	seq, err := t.LastSeq()
	if err != nil {
		return nil, err
	}
	var cause cid.Cid
	if t.inv != nil {
		cause = t.inv.CID
	}
	nonce := SelfNonce(seq, cause, t.invoked)
	t.invoked++
	tok, err := t.e.invoke(cmd, args, nonce)
	if err != nil {
		return nil, err
	}
	if err := t.PutBlock(tok.CID, tok.Raw); err != nil {
		return nil, err
	}
	msg, err := t.e.archiveSelf(t.kt, tok, cid.Undef)
	if err != nil {
		return nil, err
	}
	t.b.remember(tok)
	// Made here: no earlier batch has a record that ran it (the nonce changes with
	// every record), and its only message is the one archiveSelf indexed.
	t.b.indexed(tok.CID, msg)
	t.b.know(tok.CID, cid.Undef)
	return tok, nil
}

// remember keeps the block of tok, an invocation stored in this batch, for the records of
// the receipts that run it (Record.RanRaw).
func (b *batchState) remember(tok *ucan.Token) {
	if b.invoked == nil {
		b.invoked = map[cid.Cid]*ucan.Token{}
	}
	b.invoked[tok.CID] = tok
}

// know records that the batch knows the history of the invocation inv (Record.Fresh): no
// earlier batch has a record that ran it nor indexed a message as carrying it. task is
// inv's task when the caller has it (cid.Undef: not computed).
func (b *batchState) know(inv, task cid.Cid) {
	if b.fresh == nil {
		b.fresh = map[cid.Cid]cid.Cid{}
	}
	b.fresh[inv] = task
}

// indexed notes that the batch indexed msg as carrying inv (invocation/<inv>/<msg>.in):
// the Record.Message of an invocation whose history the batch knows is the first of the
// batch's by key, as a reader of the index finds it.
func (b *batchState) indexed(inv, msg cid.Cid) {
	if !msg.Defined() {
		return
	}
	if b.in == nil {
		b.in = map[cid.Cid]cid.Cid{}
	}
	// The keys differ only in the CID: ".in" sorts before every character a CID's string
	// holds, so they order as the CIDs' strings do.
	if cur, ok := b.in[inv]; !ok || cidtext.String(msg) < cidtext.String(cur) {
		b.in[inv] = msg
	}
}

// settle fills in, once the batch's writes are done, what its records say of the
// invocations whose history it knows (Record.Fresh, First, Message).
func (b *batchState) settle() {
	if len(b.fresh) == 0 {
		return
	}
	seen := make(map[cid.Cid]struct{}, len(b.fresh))
	for i, ran := range b.ran {
		task, ok := b.fresh[ran]
		if !ok {
			continue
		}
		r := &b.events[i]
		r.Fresh, r.Message, r.RanTask = true, b.in[ran], task
		if _, dup := seen[ran]; !dup {
			r.First = true
			seen[ran] = struct{}{}
		}
	}
}

// record returns the commit-log record ev of a receipt that ran ran, with the
// invocation's block when this Tx has it in memory.
func (t *Tx) record(ev Event, ran cid.Cid) Record {
	r := Record{Event: ev}
	switch {
	case t.inv != nil && t.inv.CID.Equals(ran):
		r.Ran, r.RanRaw = ran, t.inv.Raw
	default:
		if tok, ok := t.b.invoked[ran]; ok {
			r.Ran, r.RanRaw = ran, tok.Raw
		}
	}
	return r
}

// SetResult records receipt (stored, e.g. the head a Tx.Put returned) as the result of
// the task of inv, an invocation of this Tx (Tx.Invoke), as an operation's receipt is
// recorded for its task: Engine.TaskResult, GET /receipts/<inv> and so the walk from a
// receipt's fx find it. Use it when a system write is all that a self-issued invocation
// does (a usage record, a carwhere update). A task that already has a result keeps it.
func (t *Tx) SetResult(inv *ucan.Token, receipt cid.Cid) error {
	if inv == nil || inv.Invocation == nil || !receipt.Defined() {
		return fmt.Errorf("%w: SetResult needs an invocation and a receipt", ErrInvalidWrite)
	}
	task, err := inv.Invocation.Task()
	if err != nil {
		return fmt.Errorf("computing task of %s: %w", inv.CID, err)
	}
	k := taskResultKey(task)
	if err := t.b.needs(k); err != nil {
		return err
	}
	switch _, err := t.kt.Get(k); {
	case err == nil:
		return nil
	case !errors.Is(err, kv.ErrNotFound):
		return fmt.Errorf("reading the result of task %s: %w", task, err)
	}
	if err := t.kt.Put(k, receipt.Bytes()); err != nil {
		return fmt.Errorf("recording the result of task %s: %w", task, err)
	}
	return nil
}

// Issue signs a receipt that is not the head of an entry (fill TS and Seq yourself, e.g.
// Now and LastSeq) and stores it as a block. Use Append to put it in the commit log.
func (t *Tx) Issue(r receipts.Receipt) (*ucan.Token, error) {
	tok, err := receipts.Issue(t.e.signer, r, t.e.seal)
	if err != nil {
		return nil, err
	}
	return tok, t.PutBlock(tok.CID, tok.Raw)
}

// Append adds a commit-log record for receipt at p and returns its sequence; watchers of
// p see it once the transaction commits.
func (t *Tx) Append(p Path, receipt cid.Cid) (uint64, error) {
	if err := t.b.loadSeq(t.kt); err != nil {
		return 0, err
	}
	seq := t.b.seq + 1
	if err := putLog(t.kt, seq, p, receipt); err != nil {
		return 0, fmt.Errorf("appending to commit log: %w", err)
	}
	t.b.seq = seq
	t.b.dirtySeq = true
	t.b.events = append(t.b.events, Record{Event: Event{Seq: seq, Path: p, Receipt: receipt}})
	t.b.ran = append(t.b.ran, cid.Undef)
	return seq, nil
}

// write commits state as the new head of p: the receipt (issued when the batch flushes
// its pending receipts), entry record, order index and commit-log record. The returned
// entry's Head is set once the receipt is issued; add writes that need the receipt to
// the returned pendingReceipt.
func (t *Tx) write(p Path, ran cid.Cid, state datamodel.Node, value cid.Cid, prev *Entry, restart bool, fx []cid.Cid) (*Entry, *pendingReceipt, error) {
	status, err := statusOf(state)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	if err := t.b.loadSeq(t.kt); err != nil {
		return nil, nil, err
	}
	seq := t.b.seq + 1
	abs := p.String() // the receipt's path and the commit-log record's
	r := receipts.Receipt{
		Ran:  ran,
		Out:  receipts.Out{Ok: state},
		Path: abs,
		Fx:   fx,
		TS:   t.Now().UnixMilli(),
		Seq:  seq,
	}
	if prev != nil {
		h := prev.Head
		r.Origin = &h
	}
	e := &Entry{Path: p, Value: value, Status: status, State: state, Seq: seq, Order: seq}
	if !restart && prev != nil {
		e.Order = prev.Order
	} else if prev != nil {
		if err := t.kt.Delete(orderKey(p, prev.Order)); err != nil {
			return nil, nil, fmt.Errorf("moving %s in its collection: %w", p, err)
		}
	}
	if prev == nil || restart || prev.Status != status {
		if err := t.kt.Put(orderKey(p, e.Order), orderValue(status, entryName(p))); err != nil {
			return nil, nil, fmt.Errorf("indexing entry %s: %w", p, err)
		}
	}
	b := t.b
	b.seq = seq
	b.dirtySeq = true
	ev := len(b.events)
	b.events = append(b.events, t.record(Event{Seq: seq, Path: p}, ran))
	b.ran = append(b.ran, ran)
	ek := entryKey(p)
	pr := &pendingReceipt{r: r, job: t.j, state: e}
	pr.apply = append(pr.apply, func(tok *ucan.Token) error {
		e.Head = tok.CID
		if err := b.raw.Put(blockKey(tok.CID), tok.Raw); err != nil {
			return fmt.Errorf("storing receipt %s: %w", tok.CID, err)
		}
		if err := b.raw.Put(ek, e.encode()); err != nil {
			return fmt.Errorf("writing entry %s: %w", p, err)
		}
		if err := putLogOf(b.raw, seq, p, abs, tok.CID); err != nil {
			return fmt.Errorf("appending to commit log: %w", err)
		}
		b.events[ev].Receipt = tok.CID
		b.events[ev].ReceiptRaw = tok.Raw
		return nil
	})
	b.enqueue(pr)
	b.pendingKeys[string(ek)] = struct{}{}
	return e, pr, nil
}
