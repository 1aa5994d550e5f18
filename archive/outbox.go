package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/internal/failrun"
	"github.com/w3dag/w3dag/kv"
)

// Outbox defaults.
const (
	// DefaultMaxBatch is the most messages one outbox commit holds.
	DefaultMaxBatch = 256
	// MaxBatchBytes bounds the bytes of messages one outbox commit holds (16 MiB).
	MaxBatchBytes = 16 << 20
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
	// maxHints bounds the messages this process remembers having written (see
	// outbox.hints); puts beyond it are found by scanning, as other processes' are.
	maxHints = MaxBacklog
	// maxHintBytes bounds the message bytes the hints keep (see outbox.hints): a round
	// takes a hint's bytes as they are instead of reading its row back from kv, and a
	// hint put past this bound keeps only the CID (its row is read, as before).
	maxHintBytes = 16 << 20
	// scanEvery: of this many rounds in a row, at least the last reads the outbox by a
	// scan even while hints are left, so that messages without a hint (a hint read before
	// its caller's transaction committed, puts past maxHints, other processes' puts) are
	// moved under sustained load too, not only once the hints run out.
	scanEvery = 64
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
	poll     time.Duration

	queue   chan *pendingPut
	start   sync.Once
	stop    chan struct{}
	stopped chan struct{}
	closing sync.Once
	moved   chan struct{} // poked after each commit, so Run moves without waiting
	lastPut atomic.Int64  // Unix nanoseconds of the last put
	backlog atomic.Int64  // messages this process put and Run has not moved yet

	// hints are the messages this process wrote to the outbox (or is writing, in a
	// caller's transaction), at most maxHints, oldest first: a round reads their keys
	// (outboxKey) with point reads instead of scanning the outbox from its start, over
	// the deletions earlier rounds left there (which the store skips one by one until it
	// compacts them away). A hint whose key is gone (moved by another process, or its
	// transaction never committed) is dropped; what hints miss, the scan that ends every
	// drain finds.
	//
	// With Options.OwnOutbox, a hint of a message whose transaction is known to have
	// committed (put's) keeps the message's bytes, up to maxHintBytes in all: a round
	// moves those without reading their rows back (point reads of rows written seconds
	// ago, most of them flushed out of the memtable by then, were 5 % of serve's CPU at 32
	// clients). No other process moves them, but this one's rounds may move a message
	// before one of its hints is read: one moved by a scan, or put twice (the same bytes,
	// one row) and moved by the round that took the first hint. So that none is moved
	// twice, a message is hinted once at a time (listed), a round that moved a message
	// drops its other hints (moved), and a hint given after a round moved its message
	// keeps no bytes (movedAt): it is given once its transaction has committed, so the
	// round may have moved the message between the two; the round that takes it reads
	// its row back (gone, it is skipped).
	hintMu    sync.Mutex
	hints     []outboxHint
	hintBytes int
	maxHints  int
	// listed counts the hints of each message in hints.
	listed map[cid.Cid]int
	// moves counts the rounds that moved messages (changed under hintMu); movedAt is, for
	// each message the last keepMoves of them moved, the last one's count, and recent
	// those rounds' messages, oldest first.
	moves   atomic.Uint64
	movedAt map[cid.Cid]uint64
	recent  [][]cid.Cid
	// keepBytes: hints keep the bytes of committed messages (Options.OwnOutbox).
	keepBytes bool
	// hinted counts the rounds read by hints since the last scan (scanEvery).
	hinted atomic.Int64
}

// outboxHint is a message this process put in the outbox, with its bytes when the
// transaction that wrote them is known to have committed (nil otherwise).
type outboxHint struct {
	msg  cid.Cid
	data []byte
}

// keepMoves is how many of the last rounds that moved messages the outbox remembers
// the messages of (outbox.movedAt, at most keepMoves×moveRound of them): a hint whose put
// began before those rounds keeps no bytes.
const keepMoves = 64

// moveMark returns the count of rounds that moved messages, for a put to take before its
// transaction and give to hint after it.
func (o *outbox) moveMark() uint64 { return o.moves.Load() }

// hint remembers msg as written by this process, with data, its bytes, when its row is
// committed (nil: not known to be). It keeps no bytes past maxHintBytes, nor when a round
// may have moved msg since mark, taken by moveMark before the transaction that wrote the
// row. No hint is added when maxHints are held, nor when one of msg is held (it moves
// msg, or finds it moved). data must not be modified afterwards.
func (o *outbox) hint(msg cid.Cid, data []byte, mark uint64) {
	o.hintMu.Lock()
	defer o.hintMu.Unlock()
	if len(o.hints) >= o.maxHints || o.listed[msg] > 0 {
		return
	}
	if !o.keepBytes || o.hintBytes+len(data) > maxHintBytes || o.movedSince(msg, mark) {
		data = nil
	}
	o.hintBytes += len(data)
	o.hints = append(o.hints, outboxHint{msg: msg, data: data})
	o.listed[msg]++
}

// movedSince reports whether a round that moved messages after mark may have moved msg.
// hintMu is held.
func (o *outbox) movedSince(msg cid.Cid, mark uint64) bool {
	now := o.moves.Load()
	if now == mark {
		return false
	}
	if now-mark > keepMoves {
		return true // rounds forgotten: any may have
	}
	at, ok := o.movedAt[msg]
	return ok && at > mark
}

// unlist counts hs out of listed. hintMu is held.
func (o *outbox) unlist(hs []outboxHint) {
	for _, h := range hs {
		if o.listed[h.msg]--; o.listed[h.msg] <= 0 {
			delete(o.listed, h.msg)
		}
	}
}

// takeHints removes and returns up to n of the oldest hints.
func (o *outbox) takeHints(n int) []outboxHint {
	o.hintMu.Lock()
	defer o.hintMu.Unlock()
	n = min(n, len(o.hints))
	out := slices.Clone(o.hints[:n])
	o.hints = slices.Delete(o.hints, 0, n)
	for _, h := range out {
		o.hintBytes -= len(h.data)
	}
	o.unlist(out)
	return out
}

// returnHints puts messages taken and not read back in front of the hints.
func (o *outbox) returnHints(hs []outboxHint) {
	o.hintMu.Lock()
	o.hints = append(hs[:len(hs):len(hs)], o.hints...)
	if len(o.hints) > o.maxHints {
		clear(o.hints[o.maxHints:])
		o.hints = o.hints[:o.maxHints]
	}
	o.hintBytes = 0
	clear(o.listed)
	for _, h := range o.hints {
		o.hintBytes += len(h.data)
		o.listed[h.msg]++
	}
	o.hintMu.Unlock()
}

// dropHints records that a round has just moved the messages of moved: it forgets their
// hints, which would move them again, and hints given later by puts that began before
// keep no bytes (hint), since the round may have deleted the rows those puts wrote.
func (o *outbox) dropHints(moved []outboxMsg) {
	if len(moved) == 0 {
		return
	}
	msgs := make([]cid.Cid, len(moved))
	held := false
	o.hintMu.Lock()
	defer o.hintMu.Unlock()
	n := o.moves.Add(1)
	for i, m := range moved {
		msgs[i] = m.msg
		o.movedAt[m.msg] = n
		held = held || o.listed[m.msg] > 0
	}
	o.recent = append(o.recent, msgs)
	if len(o.recent) > keepMoves {
		for _, c := range o.recent[0] {
			if o.movedAt[c] <= n-keepMoves {
				delete(o.movedAt, c)
			}
		}
		o.recent[0] = nil
		o.recent = o.recent[1:]
	}
	if !held {
		return
	}
	o.hints = slices.DeleteFunc(o.hints, func(h outboxHint) bool {
		if o.movedAt[h.msg] == n {
			o.hintBytes -= len(h.data)
			if o.listed[h.msg]--; o.listed[h.msg] <= 0 {
				delete(o.listed, h.msg)
			}
			return true
		}
		return false
	})
}

// wrote records that this process put msg in the outbox: for Run's pacing (written) and
// as a hint (hint; data and mark as there).
func (o *outbox) wrote(msg cid.Cid, data []byte, mark uint64) {
	o.written()
	o.hint(msg, data, mark)
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
	msg  cid.Cid
	key  []byte
	data []byte
	mark uint64 // moveMark before the put's transaction
	done chan error
}

func newOutbox(opts Options, log *slog.Logger) *outbox {
	o := &outbox{
		store:     opts.Outbox,
		commitFn:  opts.Commit,
		log:       log,
		maxBatch:  opts.MaxBatch,
		poll:      opts.MovePoll,
		maxHints:  maxHints,
		listed:    map[cid.Cid]int{},
		movedAt:   map[cid.Cid]uint64{},
		keepBytes: opts.OwnOutbox,
		queue:     make(chan *pendingPut, 4096),
		stop:      make(chan struct{}),
		stopped:   make(chan struct{}),
		moved:     make(chan struct{}, 1),
	}
	if o.maxBatch <= 0 {
		o.maxBatch = DefaultMaxBatch
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
		mark := o.moveMark()
		err := o.commitFn(ctx, func(tx kv.Tx) error { return tx.Put(key, data) })
		if err != nil {
			return fmt.Errorf("writing the outbox: %w", err)
		}
		o.wrote(msg, data, mark)
		return nil
	}
	o.start.Do(func() { go o.commit() })
	p := &pendingPut{msg: msg, key: outboxKey(msg), data: data, mark: o.moveMark(), done: make(chan error, 1)}
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
				o.wrote(p.msg, p.data, p.mark)
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

// lookup finds message msg in one view of the kv store: its segment location from the
// index, or its bytes (checked) from the outbox; both nil when it is in neither.
func (o *outbox) lookup(ctx context.Context, msg cid.Cid) (*location, []byte, error) {
	var loc *location
	var data []byte
	err := o.store.View(ctx, func(tx kv.Tx) error {
		v, err := tx.Get(indexKey(msg))
		if err == nil {
			l, err := decodeLocation(v)
			if err != nil {
				return fmt.Errorf("%s: %w", msg, err)
			}
			loc = &l
			return nil
		}
		if !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		v, err = tx.Get(outboxKey(msg))
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
		return nil, nil, fmt.Errorf("looking up %s in the archive index and outbox: %w", msg, err)
	}
	if data != nil {
		if got, err := msg.Prefix().Sum(data); err != nil || !got.Equals(msg) {
			return nil, nil, fmt.Errorf("%w: %s in the outbox", ErrCorrupt, msg)
		}
	}
	return loc, data, nil
}

// listIndexed returns the CIDs of the messages in segments, then of those in the outbox,
// read in one view (a message moved meanwhile is in one list or the other, never neither).
func (o *outbox) listIndexed(ctx context.Context) ([]cid.Cid, error) {
	var out []cid.Cid
	err := o.store.View(ctx, func(tx kv.Tx) error {
		ip := []byte(IndexPrefix)
		err := tx.Scan(kv.ScanOptions{Start: ip, End: kv.PrefixEnd(ip)}, func(k, _ []byte) error {
			c, err := cid.Decode(string(k[len(ip):]))
			if err != nil {
				return fmt.Errorf("%w: index key %q: %v", ErrCorrupt, k, err)
			}
			out = append(out, c)
			return nil
		})
		if err != nil {
			return err
		}
		msgs, err := scanOutbox(tx)
		out = append(out, msgs...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing the archive index and outbox: %w", err)
	}
	return out, nil
}

// list returns the CIDs of the messages in the outbox.
func (o *outbox) list(ctx context.Context) ([]cid.Cid, error) {
	var out []cid.Cid
	err := o.store.View(ctx, func(tx kv.Tx) error {
		var err error
		out, err = scanOutbox(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing the outbox: %w", err)
	}
	return out, nil
}

func scanOutbox(tx kv.Tx) ([]cid.Cid, error) {
	var out []cid.Cid
	prefix := []byte(OutboxPrefix)
	err := tx.Scan(kv.ScanOptions{Start: prefix, End: kv.PrefixEnd(prefix)}, func(k, _ []byte) error {
		c, err := cid.Cast(k[len(prefix):])
		if err != nil {
			return fmt.Errorf("%w: outbox key %x: %v", ErrCorrupt, k, err)
		}
		out = append(out, c)
		return nil
	})
	return out, err
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
// CPU and I/O first and the outbox absorbs bursts. A round that fails leaves its messages
// in the outbox for the next; the first failure of a run of them is logged at error level,
// then a reminder every failrun.Repeat (one minute), and the recovery at info level. It
// returns nil when ctx ends. Without an outbox it returns nil at once.
func (a *Archive) Run(ctx context.Context) error {
	if a.ob == nil {
		return nil
	}
	tick := time.NewTicker(a.ob.poll)
	defer tick.Stop()
	fails := failrun.Log{What: "moving archived messages to blob storage"}
	for {
		a.drain(ctx, &fails)
		select {
		case <-ctx.Done():
			return nil
		case <-a.ob.moved:
		case <-tick.C:
		}
	}
}

// drain moves the outbox to blob storage round by round, pacing itself while busy, and
// logs failed rounds through fails.
func (a *Archive) drain(ctx context.Context, fails *failrun.Log) {
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
				fails.Failed(ctx, a.log, err, last)
			}
			return
		}
		fails.Succeeded(ctx, a.log, last)
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
	// hinted: data is the bytes this process put (outboxHint), not read from the row.
	hinted bool
}

// moveRound moves up to moveRound messages (and about maxRoundBytes) into one new segment
// and returns how many it moved, and how many outbox entries it handled: moved (indexed,
// their outbox rows deleted in the same transaction), or set aside under QuarantinePrefix because their key
// is not a CID or their bytes do not hash to it (logged as ErrCorrupt).
func (a *Archive) moveRound(ctx context.Context) (moved, handled int, err error) {
	var round []outboxMsg
	var corrupt [][]byte
	if a.ob.hinted.Add(1) < scanEvery {
		round, err = a.readHinted(ctx)
	}
	if err == nil && len(round) == 0 {
		a.ob.hinted.Store(0)
		round, corrupt, err = a.readScan(ctx)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("reading the outbox: %w", err)
	}
	moved, handled, err = a.move(ctx, round, corrupt)
	if err == nil {
		// Their other hints would move them again (a second copy, see outbox.hints).
		a.ob.dropHints(round)
	}
	return moved, handled, err
}

// readHinted reads a round's messages by the keys of those this process wrote
// (outbox.hints), skipping those no longer in the outbox; nothing once no hint is left.
// A hint that kept its message's bytes is taken as it is, without a read.
func (a *Archive) readHinted(ctx context.Context) (round []outboxMsg, err error) {
	for len(round) == 0 {
		hs := a.ob.takeHints(moveRound)
		if len(hs) == 0 {
			return nil, nil
		}
		read := 0
		seen := make(map[cid.Cid]struct{}, len(hs))
		take := func(tx kv.Tx) error {
			size := 0
			for _, h := range hs {
				if size >= maxRoundBytes {
					break
				}
				read++
				if _, dup := seen[h.msg]; dup {
					continue // the same message put twice: one key, moved once
				}
				seen[h.msg] = struct{}{}
				k := outboxKey(h.msg)
				if h.data != nil {
					round = append(round, outboxMsg{key: k, msg: h.msg, data: h.data, hinted: true})
					size += len(h.data)
					continue
				}
				v, err := tx.Get(k)
				if errors.Is(err, kv.ErrNotFound) {
					continue // moved already (by a scan, or another process), or never committed
				}
				if err != nil {
					return err
				}
				round = append(round, outboxMsg{key: k, msg: h.msg, data: append([]byte(nil), v...)})
				size += len(v)
			}
			return nil
		}
		if slices.ContainsFunc(hs, func(h outboxHint) bool { return h.data == nil }) {
			err = a.ob.store.View(ctx, take)
		} else {
			err = take(nil) // every hint has its bytes: no read, no transaction
		}
		if err != nil {
			a.ob.returnHints(hs)
			return nil, err
		}
		if read < len(hs) {
			a.ob.returnHints(hs[read:])
		}
	}
	return round, nil
}

// readScan reads a round's messages by scanning the outbox from its start: those other
// processes put, those written before this process started, and any hints missed.
func (a *Archive) readScan(ctx context.Context) (round []outboxMsg, corrupt [][]byte, err error) {
	prefix := []byte(OutboxPrefix)
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
	return round, corrupt, err
}

// move writes the round's messages into one segment, then indexes them and deletes their
// outbox rows (and quarantines corrupt) in one transaction.
func (a *Archive) move(ctx context.Context, round []outboxMsg, corrupt [][]byte) (moved, handled int, err error) {
	if len(round) == 0 && len(corrupt) == 0 {
		return 0, 0, nil
	}
	var good []outboxMsg
	for _, m := range round {
		if got, err := m.msg.Prefix().Sum(m.data); err != nil || !got.Equals(m.msg) {
			if m.hinted {
				// The bytes kept in memory changed after the put (a caller's bug), not
				// the row: leave the row for a scan to move.
				a.log.ErrorContext(ctx, "a message's bytes changed after it was archived; its outbox row is moved by the next scan", "msg", m.msg.String())
				continue
			}
			a.log.ErrorContext(ctx, "quarantining an outbox entry", "error", fmt.Errorf("%w: %s in the outbox", ErrCorrupt, m.msg))
			corrupt = append(corrupt, m.key)
			continue
		}
		good = append(good, m)
	}
	var locs []location
	if len(good) > 0 {
		// One segment for the round: one blob write (one PUT on S3, one fsynced file on
		// fs) instead of one per message. A crash after it and before the index commit
		// leaves an unindexed segment; the messages stay in the outbox and go into the
		// next round's segment.
		data, seg, l, err := encodeSegment(good)
		if err != nil {
			return 0, 0, err
		}
		digest, err := multihash.Decode(seg.Hash())
		if err != nil {
			return 0, 0, fmt.Errorf("hashing segment: %w", err)
		}
		if err := a.blobs.Put(ctx, SegmentKey(seg), bytes.NewReader(data), blob.PutOptions{Size: int64(len(data)), SHA256: digest.Digest}); err != nil {
			return 0, 0, fmt.Errorf("writing segment %s of %d messages: %w", seg, len(good), err)
		}
		locs = l
	}
	err = a.ob.store.Update(ctx, func(tx kv.Tx) error {
		for _, k := range corrupt {
			v, err := tx.Get(k)
			if errors.Is(err, kv.ErrNotFound) {
				continue // another process's mover took it
			}
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
		// The index entries replace the outbox rows in one transaction: a message is
		// always in one or the other.
		for i, m := range good {
			if err := tx.Put(indexKey(m.msg), locs[i].encode()); err != nil {
				return err
			}
			if err := tx.Delete(m.key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("indexing a segment and clearing the outbox: %w", err)
	}
	handled = len(good) + len(corrupt)
	if a.ob.backlog.Add(-int64(handled)) < 0 {
		a.ob.backlog.Store(0) // moved messages another process or run put
	}
	return len(good), handled, nil
}
