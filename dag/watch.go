package dag

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
)

// Event is one commit-log record: a receipt committed at Seq as the new head of Path.
type Event struct {
	Seq     uint64
	Path    Path
	Receipt cid.Cid
}

// Record is a commit-log record with the blocks it names, as the committer had them in
// memory (Engine.Records): what the JSON log exporter reads instead of the blocks in kv.
type Record struct {
	Event
	// ReceiptRaw is the receipt's block (the bytes of block/<Receipt>); nil when the
	// record was read from the log and not from memory, or the ring dropped its blocks
	// (Options.WatchRingBytes).
	ReceiptRaw []byte
	// Ran is the invocation the receipt ran and RanRaw its block (the bytes of
	// block/<Ran>), when the transaction that wrote the record had the invocation in
	// memory (the operation's own invocation, or one Tx.Invoke or Tx.Archive made in it);
	// cid.Undef and nil otherwise.
	Ran    cid.Cid
	RanRaw []byte
	// Fresh reports that the record's batch knew the history of Ran: it is a client's
	// invocation the batch ran for the first time (its task had no result), or one
	// Tx.Invoke made in the batch, so no record of an earlier batch ran it. Then First
	// reports whether the record is the first commit-log record whose receipt ran Ran
	// (no earlier record of the batch did), and Message is the first by key of the request
	// messages the batch indexed Ran as arriving in (invocation/<Ran>/<Message>.in;
	// cid.Undef for none), which is the index's first unless a message outside the batch
	// carried Ran too (sent again after it ran, or refused by Engine.Fail before). Without
	// Fresh, First and Message are unset: read the log and the indexes. Fresh, First and
	// Message stay when the ring drops the blocks.
	Fresh, First bool
	Message      cid.Cid
	// RanTask is the task of Ran when the record is Fresh and the engine had computed it
	// (for a client's invocation); cid.Undef otherwise.
	RanTask cid.Cid
}

// hub keeps the most recent records in memory and wakes watchers on each commit. The
// committer never waits for a watcher: it appends to the ring and closes the wake channel.
// The ring holds at most 2×max records, and the receipt and invocation blocks of its
// newest records up to maxBytes in all (about a KiB a record, at most 2×ucan.MaxTokenSize):
// ring[:bare] have had theirs dropped. It keeps bytes, not decoded tokens: those take about
// five times as much memory, and kept for the ring's records they cost the garbage
// collector more CPU than decoding them again saves the exporter.
type hub struct {
	mu     sync.Mutex
	ring   []Record
	max    int
	wake   chan struct{}
	closed bool
	done   chan struct{}
	// base is the last sequence committed before the engine opened: memory holds
	// nothing at or below it.
	base uint64
	// bytes is the size of the blocks the records in ring[bare:] hold, at most maxBytes
	// after a publish.
	maxBytes, bytes, bare int
}

func newHub(max, maxBytes int, base uint64) *hub {
	return &hub{max: max, maxBytes: maxBytes, base: base, wake: make(chan struct{}), done: make(chan struct{})}
}

// blockBytes is the size of the blocks r holds.
func blockBytes(r *Record) int { return len(r.ReceiptRaw) + len(r.RanRaw) }

func (h *hub) publish(evs []Record) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	h.ring = append(h.ring, evs...)
	for i := range evs {
		h.bytes += blockBytes(&evs[i])
	}
	if len(h.ring) > 2*h.max {
		cut := len(h.ring) - h.max
		for i := h.bare; i < cut; i++ {
			h.bytes -= blockBytes(&h.ring[i])
		}
		h.bare = max(0, h.bare-cut)
		// In place: the ring keeps its capacity (2×max and a batch) instead of being
		// allocated again on every cut; the records past the kept ones are cleared so
		// that their blocks can be collected. Readers copy under the lock.
		n := copy(h.ring, h.ring[cut:])
		clear(h.ring[n:])
		h.ring = h.ring[:n]
	}
	// Drop the oldest records' blocks past maxBytes; readers hold copies of the records
	// they were handed, so only the ring's own change.
	for h.bytes > h.maxBytes && h.bare < len(h.ring) {
		r := &h.ring[h.bare]
		h.bytes -= blockBytes(r)
		r.ReceiptRaw, r.Ran, r.RanRaw = nil, cid.Undef, nil
		h.bare++
	}
	close(h.wake)
	h.wake = make(chan struct{})
	h.mu.Unlock()
}

func (h *hub) close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	h.mu.Unlock()
}

// since returns the events in memory that directly follow after (contiguous sequences),
// whether memory covers after+1 (if not, the watcher reads the log), and the channel that
// is closed on the next publish.
func (h *hub) since(after uint64, max int) (evs []Event, covered bool, wake chan struct{}) {
	covered, wake = h.each(after, max, func(rs []Record) {
		evs = make([]Event, len(rs))
		for i := range rs {
			evs[i] = rs[i].Event
		}
	})
	return evs, covered, wake
}

// records is since with the records' blocks.
func (h *hub) records(after uint64, max int) (recs []Record, covered bool, wake chan struct{}) {
	covered, wake = h.each(after, max, func(rs []Record) { recs = slices.Clone(rs) })
	return recs, covered, wake
}

// each calls fn, under the hub's lock, with the up to max records in memory that directly
// follow after, in order (at once: the callers copy them into a slice of the right size,
// not one appended to record by record); it returns what since does besides the events.
func (h *hub) each(after uint64, max int, fn func([]Record)) (covered bool, wake chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	wake = h.wake
	r := h.ring
	if len(r) > h.max {
		r = r[len(r)-h.max:]
	}
	top := h.base
	if len(r) > 0 {
		top = r[len(r)-1].Seq
	}
	if after >= top {
		return true, wake
	}
	i := sort.Search(len(r), func(i int) bool { return r[i].Seq > after })
	if i == len(r) || r[i].Seq != after+1 {
		return false, wake
	}
	j := i
	for j < len(r) && j-i < max && r[j].Seq == after+1+uint64(j-i) {
		j++
	}
	if j > i {
		fn(r[i:j])
	}
	return true, wake
}

// Watch streams the commit-log events under prefix (a subject, collection or entry path;
// the zero Path watches everything) with sequence greater than after: first those already
// in the log, then live ones, in sequence order without gaps. Pass LastSeq to watch only
// what comes next. The channel is closed when ctx ends or the engine closes. A slow reader
// never blocks commits: it falls behind and catches up from the log.
func (e *Engine) Watch(ctx context.Context, prefix Path, after uint64) (<-chan Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.closeMu.RLock()
	closed := e.closed
	e.closeMu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	ch := make(chan Event, WatchBuffer)
	go e.watch(ctx, prefix, after, ch)
	return ch, nil
}

func (e *Engine) watch(ctx context.Context, prefix Path, last uint64, ch chan<- Event) {
	defer close(ch)
	var tick <-chan time.Time
	if e.poll > 0 {
		t := time.NewTicker(e.poll)
		defer t.Stop()
		tick = t.C
	}
	// send passes on the events under prefix, advancing last past each event it has
	// considered; it returns false when ctx ends or the engine closes.
	send := func(evs []Event) bool {
		for _, ev := range evs {
			last = ev.Seq
			if !prefix.Contains(ev.Path) {
				continue
			}
			select {
			case ch <- ev:
			case <-ctx.Done():
				return false
			case <-e.hub.done:
				return false
			}
		}
		return true
	}
	for {
		evs, covered, wake := e.hub.since(last, logPage)
		if !covered {
			var err error
			var next uint64
			evs, next, err = e.logFor(ctx, prefix, last, logPage)
			if err != nil {
				if ctx.Err() == nil {
					e.log.Error("dag: watcher reading commit log", "after", last, "err", err)
				}
				return
			}
			if !send(evs) {
				return
			}
			last = max(last, next)
		} else if !send(evs) {
			return
		}
		if len(evs) > 0 {
			continue
		}
		select {
		case <-wake:
		case <-tick:
			// Another process may have committed: read the log, page after page while
			// pages come back full.
			for {
				more, next, err := e.logFor(ctx, prefix, last, logPage)
				if err != nil {
					return
				}
				if !send(more) {
					return
				}
				last = max(last, next)
				if len(more) < logPage {
					break
				}
			}
		case <-ctx.Done():
			return
		case <-e.hub.done:
			return
		}
	}
}
