package dag

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/cbor"
	"github.com/w3dag/w3dag/internal/failrun"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// Group-commit and watcher defaults.
const (
	// DefaultMaxBatch is the most operations one group commit (one kv transaction, one
	// fsync) holds when Options.MaxBatch is zero.
	DefaultMaxBatch = 512
	// DefaultWatchRing is how many recent commit-log events the engine keeps in memory
	// for watchers when Options.WatchRing is zero; watchers further behind read the log.
	DefaultWatchRing = 8192
	// DefaultWatchRingBytes is the most bytes of receipt and invocation blocks the watch
	// ring keeps with its records (Engine.Records) when Options.WatchRingBytes is zero.
	// A record's blocks are up to 2×ucan.MaxTokenSize, so without a bound a ring of
	// clients' large invocations would hold gigabytes; past it the oldest records keep
	// their Event only and Records' readers read those blocks from kv. 16 MiB holds the
	// ring's 8192 records at 2 KiB each (a put's receipt and invocation take around a kilobyte):
	// it is resident memory, and the server's is budgeted (docs/OPERATIONS.md "Memory").
	DefaultWatchRingBytes = 16 << 20
	// WatchBuffer is the channel buffer of each watcher.
	WatchBuffer = 64
	// logPage is how many log records a lagging watcher reads per transaction.
	logPage = 1000
	// GatherWait bounds how long the committer (with MaxBatchDelay zero) waits for
	// operations that have started but are not yet queued (they are validating their
	// input) before it commits a batch: an fsync costs far more than that work. On a
	// store that pipelines its commits (kv.Pipeliner) the committer does not wait: the
	// batch's sync overlaps the next batch's run, which the late operations join, so
	// waiting would only add to every operation's latency (measured: engine puts on
	// kv/pebble 1.04–1.15× faster without it, see docs/PERFORMANCE.md).
	GatherWait = time.Millisecond
	// SettleDepth is, on a store that pipelines its commits (kv.Pipeliner), the most
	// applied batches that may await durability while the committer runs the next one:
	// with 1, batch N+1 runs while batch N syncs, and once applied waits for N to be
	// settled before the committer takes up N+2. One keeps the committer busy through a
	// sync; more splits the writers among more batches in flight, so batches are smaller
	// (2 measured no faster: docs/PERFORMANCE.md). At least 1.
	SettleDepth = 1
)

// Options configure an Engine.
type Options struct {
	// KV stores everything. Required.
	KV kv.Store
	// Signer is the service's key: it signs receipts and self-issued invocations, and its
	// DID is the service subject. Required.
	Signer did.Signer
	// Schema describes the collections and validates put values. Required.
	Schema *schema.Schema
	// Collections are the collections with a machine or a spec of their own (key rule, key
	// field, writers), each checked against the schema. The schema's other collections
	// still exist: schema-only (generic) ones run RecordMachine, other built-in ones are
	// keyed by strings, have no machine and refuse client puts and removes with
	// ErrUnknownCollection. Nil registers none.
	Collections []Collection
	// Logger receives internal failures; nil discards.
	Logger *slog.Logger
	// Clock returns the time for receipts and machines; nil uses time.Now.
	Clock func() time.Time
	// MaxBatch bounds the operations coalesced into one transaction; zero means
	// DefaultMaxBatch, 1 disables group commit.
	MaxBatch int
	// MaxBatchDelay is how long the committer waits for more operations before it commits
	// a batch that is not full. Zero does not wait: a batch commits as soon as the
	// committer is idle, and operations arriving meanwhile form the next batch (classic
	// group commit, no added latency when idle).
	MaxBatchDelay time.Duration
	// Seal chooses the UCAN tag version of issued receipts; the zero value emits @1.0.0.
	Seal ucan.SealOptions
	// WatchRing is how many recent commit-log events are kept in memory for watchers;
	// zero means DefaultWatchRing.
	WatchRing int
	// WatchRingBytes bounds the bytes of receipt and invocation blocks the watch ring keeps
	// with its records for Engine.Records; the oldest records' blocks are dropped past it
	// (their events stay). Zero means DefaultWatchRingBytes.
	WatchRingBytes int
	// NoFinish turns the batch finishers off (Tx.Batch returns nil): the work packages
	// leave for the end of a batch (metrics' one write per counter per commit) is not
	// done. For replay, which applies the archived invocations of that work instead (at
	// the sequences they name). Zero runs them.
	NoFinish bool
	// WatchPoll makes watchers also read the commit log this often, to see commits made
	// by other processes sharing the store; zero relies on this engine's commits only.
	WatchPoll time.Duration
	// Archive archives the service's own invocations as agent messages in the
	// transactions that create or run them (see Archiver), with the indexes client
	// messages get (invocation/<inv>/<msg>.in, task/<task>/<inv>.invocation). Nil keeps
	// them as blocks only, unarchived.
	Archive Archiver
}

// Engine runs the four operations over kv, one transaction per operation, coalescing
// concurrent operations into group commits. It is safe for concurrent use.
type Engine struct {
	kv       kv.Store
	signer   did.Signer
	service  string
	schema   *schema.Schema
	reg      *registry
	log      *slog.Logger
	clock    func() time.Time
	maxBatch int
	delay    time.Duration
	seal     ucan.SealOptions
	poll     time.Duration
	archive  Archiver
	noFinish bool

	queue    chan *job
	inflight atomic.Int64 // operations started but not yet queued
	// gatherWait is GatherWait (tests lengthen it); the committer waits only when the
	// store does not pipeline its commits (pipe is nil).
	gatherWait time.Duration
	// failure holds the error that failed the store (wrapping kv.ErrFailed), once the
	// engine has seen it (Failed, logCommitFailure).
	failure atomic.Pointer[error]
	// commitFails logs failed commits, a run of them once (and once a minute); the
	// committer's goroutine alone uses it.
	commitFails failrun.Log
	closing     chan struct{}
	stopped     chan struct{}
	closeMu     sync.RWMutex
	closed      bool

	// pipe is KV when it pipelines its commits (nil otherwise): then the committer applies
	// a batch and hands it to the settler (settleLoop) through settleq, which answers its
	// jobs once it is durable; settled is closed when the settler has answered everything.
	pipe    kv.Pipeliner
	settleq chan settlement
	settled chan struct{}

	hub *hub

	commits, committed atomic.Uint64
	runNanos, txNanos  atomic.Int64
}

// Stats counts the engine's group commits.
type Stats struct {
	// Commits is the number of kv transactions committed by the committer.
	Commits uint64
	// Ops is the number of operations (jobs) those transactions held.
	Ops uint64
	// Run is the time spent running operations inside committed transactions.
	Run time.Duration
	// Tx is the total time of committed transactions, Run plus the kv commit (fsync): on a
	// pipelining store (kv.Pipeliner), until the transaction is durable, which includes
	// waiting for the sync of the batch before it.
	Tx time.Duration
}

// Stats returns counts since Open; Ops/Commits is the average batch size.
func (e *Engine) Stats() Stats {
	return Stats{Commits: e.commits.Load(), Ops: e.committed.Load(), Run: time.Duration(e.runNanos.Load()), Tx: time.Duration(e.txNanos.Load())}
}

// Open starts an engine over opts.KV. Close stops it (but does not close the kv store).
func Open(ctx context.Context, opts Options) (*Engine, error) {
	if opts.KV == nil || opts.Signer == nil || opts.Schema == nil {
		return nil, fmt.Errorf("%w: KV, Signer and Schema are required", ErrConfig)
	}
	if opts.MaxBatch < 0 || opts.MaxBatchDelay < 0 || opts.WatchRing < 0 || opts.WatchRingBytes < 0 || opts.WatchPoll < 0 {
		return nil, fmt.Errorf("%w: negative MaxBatch, MaxBatchDelay, WatchRing, WatchRingBytes or WatchPoll", ErrConfig)
	}
	e := &Engine{
		kv:       opts.KV,
		signer:   opts.Signer,
		service:  opts.Signer.DID(),
		schema:   opts.Schema,
		log:      opts.Logger,
		clock:    opts.Clock,
		maxBatch: opts.MaxBatch,
		delay:    opts.MaxBatchDelay,
		seal:     opts.Seal,
		poll:     opts.WatchPoll,
		archive:  opts.Archive,
		noFinish: opts.NoFinish,
		closing:  make(chan struct{}),
		stopped:  make(chan struct{}),

		commitFails: failrun.Log{What: "dag: committing a batch"},
	}
	reg, err := newRegistry(opts.Schema, opts.Collections)
	if err != nil {
		return nil, err
	}
	e.reg = reg
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.clock == nil {
		e.clock = time.Now
	}
	if e.maxBatch == 0 {
		e.maxBatch = DefaultMaxBatch
	}
	ring := opts.WatchRing
	if ring == 0 {
		ring = DefaultWatchRing
	}
	ringBytes := opts.WatchRingBytes
	if ringBytes == 0 {
		ringBytes = DefaultWatchRingBytes
	}
	if err := checkService(ctx, opts.KV, e.service); err != nil {
		return nil, err
	}
	if err := markSpaceLog(ctx, opts.KV); err != nil {
		return nil, err
	}
	last, err := e.LastSeq(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening engine: %w", err)
	}
	e.hub = newHub(ring, ringBytes, last)
	e.queue = make(chan *job, e.maxBatch)
	e.gatherWait = GatherWait
	if p, ok := opts.KV.(kv.Pipeliner); ok {
		e.pipe = p
		// The settler holds one batch while it waits; the channel the rest.
		e.settleq = make(chan settlement, SettleDepth-1)
		e.settled = make(chan struct{})
		go e.settleLoop()
	}
	go e.commitLoop()
	return e, nil
}

// checkService records service as the DID of the store's service (meta/service) if the
// store has none yet, and otherwise returns ErrWrongService unless it is the recorded one.
func checkService(ctx context.Context, kvs kv.Store, service string) error {
	var have string
	err := kvs.Update(ctx, func(kt kv.Tx) error {
		have = ""
		v, err := kt.Get([]byte(keyService))
		switch {
		case errors.Is(err, kv.ErrNotFound):
			return kt.Put([]byte(keyService), []byte(service))
		case err != nil:
			return err
		}
		have = string(v)
		return nil
	})
	if err != nil {
		return fmt.Errorf("opening engine: recording the service DID: %w", err)
	}
	if have != "" && have != service {
		return fmt.Errorf("%w: it was first opened by %s, this process signs as %s (give every process sharing the store the same service key)", ErrWrongService, have, service)
	}
	return nil
}

// markSpaceLog records, the first time a store is opened by an engine that keeps the
// space log, the last sequence committed before it (meta/spacelog-from): watchers read
// older records from the global log.
func markSpaceLog(ctx context.Context, kvs kv.Store) error {
	err := kvs.Update(ctx, func(kt kv.Tx) error {
		_, err := kt.Get([]byte(keySpaceLogFrom))
		if !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		seq, err := readSeq(kt)
		if err != nil {
			return err
		}
		return kt.Put([]byte(keySpaceLogFrom), be64(seq))
	})
	if err != nil {
		return fmt.Errorf("opening engine: marking the start of the space log: %w", err)
	}
	return nil
}

// Service returns the service DID.
func (e *Engine) Service() string { return e.service }

// Schema returns the schema the engine validates with.
func (e *Engine) Schema() *schema.Schema { return e.schema }

// Close stops the engine after the operations already queued have committed (and, on a
// pipelining store, are durable and answered). Operations started after Close return
// ErrClosed. Watch channels are closed.
func (e *Engine) Close() error {
	e.closeMu.Lock()
	if e.closed {
		e.closeMu.Unlock()
		return nil
	}
	e.closed = true
	close(e.closing)
	e.closeMu.Unlock()
	<-e.stopped
	e.hub.close()
	return nil
}

// gate counts an operation as in flight from when it starts until it is queued.
type gate struct {
	e    *Engine
	left atomic.Bool
}

func (e *Engine) enter() *gate {
	e.inflight.Add(1)
	return &gate{e: e}
}

func (g *gate) leave() {
	if g != nil && g.left.CompareAndSwap(false, true) {
		g.e.inflight.Add(-1)
	}
}

// job is one unit of work for the committer: an operation's transaction function.
type job struct {
	gate *gate
	run  func(t *Tx) error
	inv  *ucan.Token
	prep any
	// now is the operation's own time (WithTime); zero: the batch's.
	now time.Time
	// turn orders the job's place in the queue (WithTurn); nil: arrival order.
	turn *Turn
	// op is the write operation the job runs (nil: another job): the committer prefetches
	// the keys it reads first (writeOp.reads) when the kv.Tx is a kv.Prefetcher, and builds
	// them only then, not on every put.
	op *writeOp
	// fail is set when the job's machine failed after writing: the job is re-run with
	// only its failure recorded.
	fail error
	err  error
	done chan struct{}
}

// dirtyFailure is returned by a job whose machine failed with a business error after
// writing through the Tx.
type dirtyFailure struct{ err error }

func (d *dirtyFailure) Error() string { return "machine failed after writing: " + d.err.Error() }

var (
	errAbortBatch = errors.New("dag: batch aborted")
	errPanic      = errors.New("dag: operation panicked")
)

// submit queues j and waits for it to commit.
func (e *Engine) submit(ctx context.Context, j *job) error {
	j.done = make(chan struct{})
	if err := pace(ctx, j); err != nil {
		return err
	}
	if j.turn != nil {
		if j.turn.prev != nil {
			select {
			case <-j.turn.prev:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		defer j.turn.Pass()
	}
	e.closeMu.RLock()
	if e.closed {
		e.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case e.queue <- j:
		j.gate.leave()
		if j.turn != nil {
			j.turn.Pass()
		}
	case <-ctx.Done():
		e.closeMu.RUnlock()
		return ctx.Err()
	}
	e.closeMu.RUnlock()
	select {
	case <-j.done:
		return j.err
	case <-ctx.Done():
		// The job may still commit; a repeat of its task gets the stored result.
		return ctx.Err()
	}
}

func (e *Engine) commitLoop() {
	defer close(e.stopped)
	if e.pipe != nil {
		defer func() {
			close(e.settleq)
			<-e.settled
		}()
	}
	batch := make([]*job, 0, e.maxBatch)
	for {
		var first *job
		select {
		case first = <-e.queue:
		case <-e.closing:
			// Drain what was queued before Close.
			for {
				select {
				case j := <-e.queue:
					e.commit([]*job{j})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < e.maxBatch {
			select {
			case j := <-e.queue:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		if e.delay == 0 && e.pipe == nil && len(batch) < e.maxBatch && e.inflight.Load() > 0 {
			// Classic group commit, plus a short wait for operations that are about to
			// be queued, so that a loaded committer does not fsync half-empty batches
			// (not on a pipelining store: GatherWait).
			batch = e.gather(batch, e.gatherWait, true)
		}
		if e.delay > 0 && len(batch) < e.maxBatch {
			batch = e.gather(batch, e.delay, false)
		}
		e.commit(batch)
	}
}

// gather adds queued jobs to batch until it is full or d has passed; with whileInflight,
// also until no operation is in flight.
func (e *Engine) gather(batch []*job, d time.Duration, whileInflight bool) []*job {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for len(batch) < e.maxBatch && (!whileInflight || e.inflight.Load() > 0) {
		select {
		case j := <-e.queue:
			batch = append(batch, j)
		case <-timer.C:
			return batch
		}
	}
	return batch
}

// join appends to jobs the operations queued while the batch ran, up to MaxBatch: they
// run in the same transaction, after the others, and share its fsync instead of waiting
// for it and then paying for their own.
func (e *Engine) join(jobs []*job) []*job {
	for len(jobs) < e.maxBatch {
		select {
		case j := <-e.queue:
			jobs = append(jobs, j)
		default:
			return jobs
		}
	}
	return jobs
}

// commit runs batch in one kv transaction, with the operations that join it while it runs
// (join). A job failing with an internal error is taken out and the rest retried; a job
// whose machine failed after writing is retried with its failure only. On a pipelining
// store it returns once the transaction is applied, leaving the settler to answer the jobs
// when it is durable.
func (e *Engine) commit(batch []*job) {
	jobs := append([]*job(nil), batch...)
	for len(jobs) > 0 {
		var bad *job
		var badErr error
		var bs *batchState
		var ran time.Duration
		start := time.Now()
		run := func(kt kv.Tx) error {
			defer func(t0 time.Time) { ran = time.Since(t0) }(time.Now())
			bs = newBatchState(e, kt, len(jobs))
			bs.commits = !e.noFinish
			defer bs.stop()
			if err := prefetch(kt, jobs, true); err != nil {
				return err
			}
			bad, badErr = nil, nil
			fail := func(j *job, err error) error {
				bad, badErr = j, err
				var fe *flushError
				if errors.As(err, &fe) && fe.job != nil {
					bad, badErr = fe.job, fe.err
				}
				return errAbortBatch
			}
			for i := 0; i < len(jobs); i++ {
				j := jobs[i]
				t := &Tx{e: e, kt: &countTx{Tx: kt}, b: bs, j: j, inv: j.inv, prepared: j.prep}
				err := runJob(j, t)
				if err == nil {
					err = bs.err
				}
				if err != nil {
					return fail(j, err)
				}
				if i == len(jobs)-1 {
					n := len(jobs)
					jobs = e.join(jobs)
					if err := prefetch(kt, jobs[n:], !bs.seqLoaded); err != nil {
						return err
					}
				}
			}
			if err := bs.finish(kt); err != nil {
				return fail(nil, err)
			}
			if err := bs.flushPending(); err != nil {
				return fail(nil, err)
			}
			return bs.flush(kt)
		}
		var err error
		if e.pipe != nil {
			var wait func() error
			wait, err = e.pipe.UpdateApplied(context.Background(), run)
			if err == nil {
				e.commitFails.Succeeded(context.Background(), e.log, time.Now())
				// Applied: the next batch reads its writes; the settler answers its jobs
				// once it is durable, while the committer goes on.
				e.settleq <- settlement{wait: wait, jobs: jobs, bs: bs, ran: ran, start: start}
				return
			}
		} else {
			err = e.kv.Update(context.Background(), run)
			if err == nil {
				e.commitFails.Succeeded(context.Background(), e.log, time.Now())
				e.durable(jobs, bs, ran, start)
				return
			}
		}
		if errors.Is(err, kv.ErrConflict) {
			// No job's fault: the store gave up on the whole batch.
			e.log.Warn("dag: commit kept conflicting; the batch is refused", "ops", len(jobs), "err", err)
			for _, j := range jobs {
				j.err = fmt.Errorf("%w: committing %d operations: %w", ErrBusy, len(jobs), err)
			}
			e.answer(jobs)
			return
		}
		if bad == nil || !errors.Is(err, errAbortBatch) {
			e.logCommitFailure(len(jobs), err)
			if bad == nil && badErr != nil {
				err = badErr // a failure of the whole batch (finishing it), not of one job
			}
			for _, j := range jobs {
				j.err = fmt.Errorf("%w: %w", ErrCommit, err)
			}
			e.answer(jobs)
			return
		}
		var dirty *dirtyFailure
		if errors.As(badErr, &dirty) && bad.fail == nil {
			bad.fail = dirty.err
			continue
		}
		if errors.Is(badErr, ucan.ErrTooLarge) && bad.fail == nil {
			// A state too large for a receipt: the client's value made it so (an upload
			// echoing too many shards); answer with an error receipt.
			bad.fail = failure(ErrInvalidValue, "the new state does not fit in a receipt: %v", badErr)
			continue
		}
		if errors.Is(badErr, cbor.ErrUnencodable) && bad.fail == nil {
			// A value nested almost as deep as a token may be decodes, but inside the
			// receipt (args, out, ok, value) it is nested deeper than one may be encoded.
			bad.fail = failure(ErrInvalidValue, "the new state cannot be put in a receipt: %v", badErr)
			continue
		}
		if errors.Is(badErr, errPanic) {
			e.log.Error("dag: operation panicked", "err", badErr)
		} else {
			e.log.Debug("dag: operation failed", "err", badErr)
		}
		bad.err = badErr
		e.answer([]*job{bad})
		rest := jobs[:0]
		for _, j := range jobs {
			if j != bad {
				rest = append(rest, j)
			}
		}
		jobs = rest
	}
}

// prefetch reads, when kt is a kv.Prefetcher (kv/postgres, where each Get is a round
// trip), the keys the jobs read first, and with seq the commit sequence (unless the batch
// has read it), in one request before the jobs run: their Gets of those keys are then
// answered from the transaction instead of one round trip each, taken serially by the
// committer. The committer calls
// it for the batch's jobs in every attempt (a retried kv.Update is a new transaction),
// and again for the jobs that join the batch while it runs (join). What it reads is what
// a Get would have read: a key the batch has written, or writes later (an earlier job's,
// or a pending receipt's, which needs writes before the key is read), is answered from
// the transaction's writes.
func prefetch(kt kv.Tx, jobs []*job, seq bool) error {
	p, ok := kt.(kv.Prefetcher)
	if !ok {
		return nil
	}
	var keys [][]byte
	for _, j := range jobs {
		if j.op != nil {
			keys = j.op.reads(keys)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if seq {
		// The batch's first receipt reads the sequence (batchState.loadSeq).
		keys = append(keys, []byte(keySeq))
	}
	if err := p.Prefetch(keys); err != nil {
		return fmt.Errorf("prefetching the reads of %d operations: %w", len(jobs), err)
	}
	return nil
}

// durable does what follows a batch's commit once it is durable: count it, publish its
// records to watchers and Engine.Records (in commit order: one goroutine calls it, the
// committer or the settler), and answer its jobs.
func (e *Engine) durable(jobs []*job, bs *batchState, ran time.Duration, start time.Time) {
	e.commits.Add(1)
	e.committed.Add(uint64(len(jobs)))
	e.runNanos.Add(int64(ran))
	e.txNanos.Add(int64(time.Since(start)))
	bs.settle()
	e.hub.publish(bs.events)
	for _, j := range jobs {
		close(j.done)
	}
}

// answer answers jobs that failed (their err is set) and wrote nothing. With a pipelined
// store it goes through the settler, after the batches applied before: the failure may
// come of reading their writes, which are not durable yet and could still fail.
func (e *Engine) answer(jobs []*job) {
	if e.pipe != nil {
		e.settleq <- settlement{jobs: jobs}
		return
	}
	for _, j := range jobs {
		close(j.done)
	}
}

// settlement is what the committer hands the settler: an applied batch, its jobs and
// state, and the wait for its durability; or (wait nil) jobs that failed, to answer in
// their turn.
type settlement struct {
	wait  func() error
	jobs  []*job
	bs    *batchState
	ran   time.Duration
	start time.Time
}

// settleLoop is the settler of a pipelined store: in commit order, it waits for each
// applied batch to be durable and then does what follows its commit (durable). Once a
// batch fails to become durable, its jobs and those of every batch applied after it (which
// read its writes), and the failed jobs answered after it, get that error: the store has
// failed, and nothing applied after the failure is acknowledged.
func (e *Engine) settleLoop() {
	defer close(e.settled)
	var failed error
	for s := range e.settleq {
		if s.wait != nil {
			err := s.wait()
			if err != nil && failed == nil {
				if !errors.Is(err, kv.ErrFailed) {
					// A pipelined commit that did not become durable fails the store
					// (kv.Pipeliner), whether or not the store's error says so.
					err = fmt.Errorf("%w: %w", kv.ErrFailed, err)
				}
				failed = err
				e.failure.CompareAndSwap(nil, &err)
				e.log.Error("dag: commit failed to become durable; every later operation fails", "ops", len(s.jobs), "err", err)
			}
			if failed == nil {
				e.durable(s.jobs, s.bs, s.ran, s.start)
				continue
			}
		}
		for _, j := range s.jobs {
			if failed != nil {
				j.err = fmt.Errorf("%w: %w", ErrCommit, failed)
			}
			close(j.done)
		}
	}
}

// logCommitFailure logs the failure of a batch of ops operations: the first of a run of
// failed batches at error level, then a reminder every minute and the others at debug
// level (failrun), so that a store that stays down (PostgreSQL unreachable, a failed
// disk: kv.ErrFailed, which it notes for Failed) is not reported at every batch; the
// next commit that succeeds says so at info level. It is called by the committer.
func (e *Engine) logCommitFailure(ops int, err error) {
	if errors.Is(err, kv.ErrFailed) {
		e.failure.CompareAndSwap(nil, &err)
	}
	e.commitFails.Failed(context.Background(), e.log, err, time.Now(), "ops", ops)
}

// failer is a store that can say it has failed (kv/pebble).
type failer interface {
	// Failed returns the error that failed the store (wrapping kv.ErrFailed), nil while
	// it takes writes.
	Failed() error
}

// Failed returns why the store has failed, wrapping kv.ErrFailed, or nil while it works.
// Once it has failed, every write fails until the process opens the store again (Pebble
// after a commit that did not reach the disk: docs/OPERATIONS.md, "When the disk fails"),
// while reads go on answering from the last durable state. It is what the service's
// health check reports; it knows of the failure as soon as a commit of the engine has
// met it, or, for a store that says so (kv/pebble's Failed), as soon as the store has.
func (e *Engine) Failed() error {
	if p := e.failure.Load(); p != nil {
		return *p
	}
	if f, ok := e.kv.(failer); ok {
		return f.Failed()
	}
	return nil
}

func runJob(j *job, t *Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v\n%s", errPanic, r, debug.Stack())
		}
	}()
	return j.run(t)
}

// Update runs fn in the group commit with a Tx that has no invocation: for workers and
// machines that write outside the four operations (task leases, scheduled transitions).
// fn may run more than once and must have no effects outside the Tx.
func (e *Engine) Update(ctx context.Context, fn func(t *Tx) error) error {
	return e.submit(ctx, &job{run: fn})
}

// View runs fn in a read-only transaction with a Tx (writes fail).
func (e *Engine) View(ctx context.Context, fn func(t *Tx) error) error {
	return e.kv.View(ctx, func(kt kv.Tx) error {
		b := newBatchState(e, kt, 0)
		defer b.stop()
		return fn(&Tx{e: e, kt: &countTx{Tx: kt}, b: b})
	})
}

// Invoke seals a self-issued invocation of the service (iss = sub = aud = service, a
// fresh nonce). It is not stored; Tx.Invoke stores it. An operation run with it (Put,
// Remove, Transition without WithMessage) stores it and, with Options.Archive, archives
// it in its transaction.
func (e *Engine) Invoke(cmd string, args datamodel.Node) (*ucan.Token, error) {
	return e.invoke(cmd, args, ucan.NewNonce())
}

// SelfNonceSize is the length of the nonces SelfNonce derives.
const SelfNonceSize = 16

// SelfNonce is the nonce of the n-th (from 0) invocation Tx.Invoke makes in a Tx whose
// invocation is cause (cid.Undef for none) when the last commit sequence is seq: the first
// SelfNonceSize bytes of sha2-256("w3dag/nonce/v1" ‖ seq as 8 bytes big-endian ‖ the bytes
// of cause ‖ n as 4 bytes big-endian).
func SelfNonce(seq uint64, cause cid.Cid, n uint32) []byte {
	h := sha256.New()
	h.Write([]byte("w3dag/nonce/v1"))
	h.Write(binary.BigEndian.AppendUint64(nil, seq))
	if cause.Defined() {
		h.Write(cause.Bytes())
	}
	h.Write(binary.BigEndian.AppendUint32(nil, n))
	return h.Sum(nil)[:SelfNonceSize]
}

func (e *Engine) invoke(cmd string, args datamodel.Node, nonce []byte) (*ucan.Token, error) {
	inv := &ucan.Invocation{
		Issuer:   e.service,
		Subject:  e.service,
		Audience: e.service,
		Command:  cmd,
		Args:     args,
		Nonce:    nonce,
	}
	t, err := inv.Seal(e.signer, e.seal)
	if err != nil {
		return nil, fmt.Errorf("sealing self-invocation %s: %w", cmd, err)
	}
	return t, nil
}
