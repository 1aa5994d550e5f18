package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/kv"
)

// Outbox defaults.
const (
	// DefaultMaxBatch is the most messages one outbox commit holds.
	DefaultMaxBatch = 256
	// MaxBatchBytes bounds the bytes of messages one outbox commit holds (16 MiB).
	MaxBatchBytes = 16 << 20
	// DefaultMovers is how many messages Run copies to blob storage at once when the store
	// does not implement blob.Batcher.
	DefaultMovers = 2
	// DefaultMovePoll is how often Run looks for messages other processes put in a shared
	// outbox.
	DefaultMovePoll = time.Second
	// BusyWindow: Run treats the archive as busy while a message was put within this
	// window and defers moving, which costs CPU and I/O the requests need.
	BusyWindow = 50 * time.Millisecond
	// MaxDeferral is the longest Run defers between two rounds while busy.
	MaxDeferral = 2 * time.Second
	// MaxBacklog: Run does not defer while more messages than this, put by this process,
	// wait in the outbox.
	MaxBacklog = 10000
	// moveRound bounds the messages (and maxRoundBytes their bytes) one round of Run
	// reads from the outbox.
	moveRound     = 256
	maxRoundBytes = 64 << 20
)

// OutboxPrefix starts the kv keys of messages waiting to be moved to blob storage:
// outbox/workflow/<msg CID bytes>.
const OutboxPrefix = "outbox/workflow/"

// QuarantinePrefix starts the kv keys of outbox entries the mover set aside because their
// key is not a CID or their bytes do not hash to it: quarantine/<the outbox key>. They are
// kept for an operator to inspect, out of the mover's way (a corrupt entry left in the
// outbox would take a slot of every round for good).
const QuarantinePrefix = "outbox/quarantine/"

func outboxKey(msg cid.Cid) []byte { return append([]byte(OutboxPrefix), msg.Bytes()...) }

// outbox makes messages durable in kv with group commits; Run moves them to blob storage.
type outbox struct {
	store    kv.Store
	commitFn func(ctx context.Context, fn func(kv.Tx) error) error
	log      *slog.Logger
	maxBatch int
	movers   int
	poll     time.Duration

	queue   chan *pendingPut
	start   sync.Once
	stop    chan struct{}
	stopped chan struct{}
	closing sync.Once
	moved   chan struct{} // poked after each commit, so Run moves without waiting
	lastPut atomic.Int64  // Unix nanoseconds of the last put
	backlog atomic.Int64  // messages this process put and Run has not moved yet
}

// written records a put for Run's pacing.
func (o *outbox) written() {
	o.lastPut.Store(time.Now().UnixNano())
	o.backlog.Add(1)
	select {
	case o.moved <- struct{}{}:
	default:
	}
}

// busy reports whether Run should defer moving: messages are arriving and the backlog is
// small.
func (o *outbox) busy() bool {
	return time.Since(time.Unix(0, o.lastPut.Load())) < BusyWindow && o.backlog.Load() < MaxBacklog
}

type pendingPut struct {
	key  []byte
	data []byte
	done chan error
}

func newOutbox(opts Options, log *slog.Logger) *outbox {
	o := &outbox{
		store:    opts.Outbox,
		commitFn: opts.Commit,
		log:      log,
		maxBatch: opts.MaxBatch,
		movers:   opts.Movers,
		poll:     opts.MovePoll,
		queue:    make(chan *pendingPut, 4096),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
		moved:    make(chan struct{}, 1),
	}
	if o.maxBatch <= 0 {
		o.maxBatch = DefaultMaxBatch
	}
	if o.movers <= 0 {
		o.movers = DefaultMovers
	}
	if o.poll <= 0 {
		o.poll = DefaultMovePoll
	}
	return o
}

// put queues a message for the next group commit and waits for it.
func (o *outbox) put(ctx context.Context, msg cid.Cid, data []byte) error {
	if o.commitFn != nil {
		select {
		case <-o.stop:
			return errClosed
		default:
		}
		key := outboxKey(msg)
		err := o.commitFn(ctx, func(tx kv.Tx) error { return tx.Put(key, data) })
		if err != nil {
			return fmt.Errorf("writing the outbox: %w", err)
		}
		o.written()
		return nil
	}
	o.start.Do(func() { go o.commit() })
	p := &pendingPut{key: outboxKey(msg), data: data, done: make(chan error, 1)}
	select {
	case <-o.stop:
		return errClosed
	default:
	}
	select {
	case o.queue <- p:
	case <-o.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-o.stopped:
		// The committer is gone; it may have answered p just before leaving.
		select {
		case err := <-p.done:
			return err
		default:
			return errClosed
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errClosed = errors.New("archive closed")

// commit is the group committer: it takes every put waiting, writes them in one
// transaction and answers them all.
func (o *outbox) commit() {
	defer close(o.stopped)
	for {
		var first *pendingPut
		select {
		case first = <-o.queue:
		case <-o.stop:
			o.drainClosed()
			return
		}
		batch := []*pendingPut{first}
		size := len(first.data)
	gather:
		for len(batch) < o.maxBatch && size < MaxBatchBytes {
			select {
			case p := <-o.queue:
				batch = append(batch, p)
				size += len(p.data)
			default:
				break gather
			}
		}
		err := o.store.Update(context.Background(), func(tx kv.Tx) error {
			for _, p := range batch {
				if err := tx.Put(p.key, p.data); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			err = fmt.Errorf("writing the outbox: %w", err)
		}
		for _, p := range batch {
			if err == nil {
				o.written()
			}
			p.done <- err
		}
	}
}

// drainClosed fails puts still queued when the archive closes.
func (o *outbox) drainClosed() {
	for {
		select {
		case p := <-o.queue:
			p.done <- errClosed
		default:
			return
		}
	}
}

func (o *outbox) close() {
	o.closing.Do(func() {
		close(o.stop)
		o.start.Do(func() { close(o.stopped) }) // the committer never started
		<-o.stopped
	})
}

// get returns a message still in the outbox, or nil.
func (o *outbox) get(ctx context.Context, msg cid.Cid) ([]byte, error) {
	var data []byte
	err := o.store.View(ctx, func(tx kv.Tx) error {
		v, err := tx.Get(outboxKey(msg))
		if errors.Is(err, kv.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		data = append([]byte(nil), v...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the outbox: %w", err)
	}
	if data != nil {
		if got, err := msg.Prefix().Sum(data); err != nil || !got.Equals(msg) {
			return nil, fmt.Errorf("%w: %s in the outbox", ErrCorrupt, msg)
		}
	}
	return data, nil
}

// list returns the CIDs of the messages in the outbox.
func (o *outbox) list(ctx context.Context) ([]cid.Cid, error) {
	var out []cid.Cid
	prefix := []byte(OutboxPrefix)
	err := o.store.View(ctx, func(tx kv.Tx) error {
		return tx.Scan(kv.ScanOptions{Start: prefix, End: kv.PrefixEnd(prefix)}, func(k, _ []byte) error {
			c, err := cid.Cast(k[len(prefix):])
			if err != nil {
				return fmt.Errorf("%w: outbox key %x: %v", ErrCorrupt, k, err)
			}
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing the outbox: %w", err)
	}
	return out, nil
}

// Close stops the outbox's group committer (Puts after Close fail). Messages already put
// stay in the outbox until a Run moves them. Close does nothing without an outbox.
func (a *Archive) Close() error {
	if a.ob != nil {
		a.ob.close()
	}
	return nil
}

// Run moves messages from the outbox to blob storage until ctx ends: after commits, and
// every Options.MovePoll for messages other processes put. While messages keep arriving
// it defers moving (see BusyWindow, MaxDeferral, MaxBacklog), so that requests get the
// CPU and I/O first and the outbox absorbs bursts. It returns nil when ctx ends. Without
// an outbox it returns nil at once.
func (a *Archive) Run(ctx context.Context) error {
	if a.ob == nil {
		return nil
	}
	tick := time.NewTicker(a.ob.poll)
	defer tick.Stop()
	for {
		a.drain(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-a.ob.moved:
		case <-tick.C:
		}
	}
}

// drain moves the outbox to blob storage round by round, pacing itself while busy.
func (a *Archive) drain(ctx context.Context) {
	last := time.Now()
	for ctx.Err() == nil {
		if a.ob.busy() && time.Since(last) < MaxDeferral {
			select {
			case <-ctx.Done():
				return
			case <-time.After(BusyWindow):
			}
			continue
		}
		_, n, err := a.moveRound(ctx)
		last = time.Now()
		if err != nil {
			if ctx.Err() == nil {
				a.log.ErrorContext(ctx, "moving archived messages to blob storage", "error", err)
			}
			return
		}
		if n == 0 {
			return
		}
	}
}

// Flush moves every message in the outbox to blob storage now and returns how many it
// moved. Without an outbox it returns 0, nil.
func (a *Archive) Flush(ctx context.Context) (int, error) {
	if a.ob == nil {
		return 0, nil
	}
	total := 0
	for {
		moved, n, err := a.moveRound(ctx)
		total += moved
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// Pending returns how many messages wait in the outbox.
func (a *Archive) Pending(ctx context.Context) (int, error) {
	if a.ob == nil {
		return 0, nil
	}
	msgs, err := a.ob.list(ctx)
	return len(msgs), err
}

type outboxMsg struct {
	key  []byte
	msg  cid.Cid
	data []byte
}

// moveRound moves up to moveRound messages and returns how many it moved, and how many
// outbox entries it handled: moved, or set aside under QuarantinePrefix because their key
// is not a CID or their bytes do not hash to it (logged as ErrCorrupt).
func (a *Archive) moveRound(ctx context.Context) (moved, handled int, err error) {
	prefix := []byte(OutboxPrefix)
	var round []outboxMsg
	var corrupt [][]byte // keys to quarantine
	err = a.ob.store.View(ctx, func(tx kv.Tx) error {
		size := 0
		return tx.Scan(kv.ScanOptions{Start: prefix, End: kv.PrefixEnd(prefix), Limit: moveRound}, func(k, v []byte) error {
			c, err := cid.Cast(k[len(prefix):])
			if err != nil {
				a.log.ErrorContext(ctx, "quarantining an outbox entry", "error", fmt.Errorf("%w: outbox key %x: %v", ErrCorrupt, k, err))
				corrupt = append(corrupt, append([]byte(nil), k...))
				return nil
			}
			round = append(round, outboxMsg{key: append([]byte(nil), k...), msg: c, data: append([]byte(nil), v...)})
			size += len(v)
			if size >= maxRoundBytes {
				return kv.ErrStop
			}
			return nil
		})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("reading the outbox: %w", err)
	}
	if len(round) == 0 && len(corrupt) == 0 {
		return 0, 0, nil
	}
	errs, batchErr := a.moveBlobs(ctx, round)
	var done [][]byte
	var failed []error
	for i, m := range round {
		switch {
		case errs[i] == nil:
			done = append(done, m.key)
		case errors.Is(errs[i], ErrCorrupt):
			a.log.ErrorContext(ctx, "quarantining an outbox entry", "error", errs[i])
			corrupt = append(corrupt, m.key)
		case errs[i] != errBatchFailed: // reported once, as batchErr
			failed = append(failed, fmt.Errorf("moving %s: %w", m.msg, errs[i]))
		}
	}
	if batchErr != nil {
		failed = append(failed, batchErr)
	}
	if len(done) > 0 || len(corrupt) > 0 {
		err := a.ob.store.Update(ctx, func(tx kv.Tx) error {
			for _, k := range corrupt {
				v, err := tx.Get(k)
				if err != nil {
					return err
				}
				if err := tx.Put(append([]byte(QuarantinePrefix), k...), v); err != nil {
					return err
				}
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			for _, k := range done {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, 0, fmt.Errorf("clearing the outbox: %w", err)
		}
		if a.ob.backlog.Add(-int64(len(done)+len(corrupt))) < 0 {
			a.ob.backlog.Store(0) // moved messages another process or run put
		}
	}
	handled = len(done) + len(corrupt)
	if len(failed) > 0 {
		return len(done), handled, errors.Join(failed...)
	}
	return len(done), handled, nil
}

// errBatchFailed marks the messages of a failed PutBatch in moveBlobs' errors: the batch's
// error says nothing of which message it was about, so moveRound reports it once.
var errBatchFailed = errors.New("batch failed")

// moveBlobs writes the messages of a round to blob storage and returns each one's error.
// Stores that implement blob.Batcher get the whole round in one PutBatch (one disk flush
// for the round instead of several per message: the difference between the mover keeping
// up with a thousand small requests a second or starving them of I/O); others get
// concurrent Puts, Options.Movers at a time. When the PutBatch fails, every message it
// held has errBatchFailed and batchErr is its error.
func (a *Archive) moveBlobs(ctx context.Context, round []outboxMsg) (errs []error, batchErr error) {
	errs = make([]error, len(round))
	for i, m := range round {
		if got, err := m.msg.Prefix().Sum(m.data); err != nil || !got.Equals(m.msg) {
			errs[i] = fmt.Errorf("%w: %s in the outbox", ErrCorrupt, m.msg)
		}
	}
	if b, ok := a.blobs.(blob.Batcher); ok {
		var items []blob.BatchItem
		var idx []int
		for i, m := range round {
			if errs[i] != nil {
				continue
			}
			item, err := blobItem(m.msg, m.data)
			if err != nil {
				errs[i] = err
				continue
			}
			items = append(items, item)
			idx = append(idx, i)
		}
		if err := b.PutBatch(ctx, items); err != nil {
			for _, i := range idx {
				errs[i] = errBatchFailed
			}
			return errs, fmt.Errorf("moving a batch of %d messages: %w", len(items), err)
		}
		return errs, nil
	}
	sem := make(chan struct{}, a.ob.movers)
	var wg sync.WaitGroup
	for i, m := range round {
		if errs[i] != nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = a.putBlob(ctx, m.msg, m.data)
		}()
	}
	wg.Wait()
	return errs, nil
}
