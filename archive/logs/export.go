package logs

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/cbor"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/internal/cidtext"
	"github.com/w3dag/w3dag/internal/failrun"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

const (
	// Prefix is the blob key prefix of the exported files, and the kv prefix of the
	// exporter's state.
	Prefix = "logs/"
	// DefaultChunk is how many commit-log records one chunk (one round of files and one
	// position update) holds at most when Options.Chunk is zero.
	DefaultChunk = 4096
	// MaxChunk is the largest Options.Chunk accepted: a chunk's lines are kept in memory
	// until its files are written (a receipt line is at most a few KiB: receipts are
	// UCAN tokens of at most ucan.MaxTokenSize bytes).
	MaxChunk = 65536
	// DefaultInterval is how often Run looks for new commits when Options.Interval is zero.
	DefaultInterval = time.Second
	// SeqDigits is the width sequences are zero-padded to in file names.
	SeqDigits = 16
)

// lineSize is the room a line is started with: most receipt lines fit.
const lineSize = 1536

// commonSize is about the length of an invocation's invocation.common (its message and
// task CIDs, three DIDs, its command and op): the room a chunk's common buffer starts with
// for each of its invocations.
const commonSize = 384

// maxSpareBytes is the most file-body capacity an Exporter keeps from one chunk for the
// next (Exporter.spare): the bodies of a chunk's files, reused by the files of the same
// kind (type, collection and op) in the next chunk, rather than grown again from lineSize
// (each doubling a large allocation, zeroed, and the earlier copies garbage). Bodies beyond it are left
// to the collector, so a one-off large chunk (catching up after a restart) is not held.
const maxSpareBytes = 32 << 20

// ranMarker starts the value of logs/ran/<inv> when it holds the invocation's message.
const ranMarker = 1

// kv keys of the exporter's state, all under Prefix.
const (
	keyPosition = Prefix + "position" // BE8: last commit sequence exported
	keyPending  = Prefix + "pending"  // BE8: end of the chunk being written, while it is
	keyMessages = Prefix + "messages" // the pending chunk's messages (encodeMessages), while it is written
	prefixRan   = Prefix + "ran/"     // + invocation CID bytes: has its workflow line; value ranMarker + its message's CID bytes (none: no message), or empty (written before the marker held the message)
)

// Source is what the exporter reads: the commit log's records, with the blocks of their
// receipts and invocations when the source has them in memory (dag.Engine.Records hands
// over what it committed recently), and through read-only transactions the blocks it did
// not have (the blocks a chunk lacks are read in one). *dag.Engine implements it.
type Source interface {
	LastSeq(ctx context.Context) (uint64, error)
	Records(ctx context.Context, after uint64, limit int) ([]dag.Record, error)
	View(ctx context.Context, fn func(*dag.Tx) error) error
}

// Options configure an Exporter.
type Options struct {
	// Source is the commit log to follow (required).
	Source Source
	// KV is the store the exporter keeps its position in, under Prefix, and where it
	// reads which message each invocation arrived in (archive.InvocationInKey). It is the
	// engine's store (required).
	KV kv.Store
	// Blobs receives the files (required).
	Blobs blob.Store
	// Chunk is the most commit-log records per chunk; zero means DefaultChunk; at most
	// MaxChunk.
	Chunk int
	// Interval is how often Run polls the commit log; zero means DefaultInterval.
	Interval time.Duration
	// Logger receives Run's errors; nil discards them.
	Logger *slog.Logger
}

// Exporter writes the JSON logs of one store.
type Exporter struct {
	src      Source
	kv       kv.Store
	blobs    blob.Store
	chunk    int
	interval time.Duration
	log      *slog.Logger
	// seen is the highest position this exporter has read or moved to: positions only
	// move forward, so a log that ends there has nothing to export (Export then reads only
	// the last sequence, not its state in kv).
	seen atomic.Uint64
	// spare holds the file bodies of the last chunk written, by kind of file, emptied, for
	// the next chunk's files (takeSpare, keepSpare): at most maxSpareBytes of capacity.
	// They are kept only after a chunk's write succeeded: the blob store is done with a
	// body when its PutBatch returns (blob.Batcher promises it) or its Put returns nil, but
	// a Put that failed may still be reading it (an HTTP upload's body, read by the
	// transport after the call gave up).
	spareMu sync.Mutex
	spare   map[kind][]byte
}

// New returns an exporter, or ErrConfig.
func New(opts Options) (*Exporter, error) {
	if opts.Source == nil || opts.KV == nil || opts.Blobs == nil {
		return nil, fmt.Errorf("%w: Source, KV and Blobs are required", ErrConfig)
	}
	if opts.Chunk < 0 || opts.Chunk > MaxChunk {
		return nil, fmt.Errorf("%w: Chunk %d is not between 0 and %d", ErrConfig, opts.Chunk, MaxChunk)
	}
	if opts.Interval < 0 {
		return nil, fmt.Errorf("%w: negative Interval %s", ErrConfig, opts.Interval)
	}
	x := &Exporter{src: opts.Source, kv: opts.KV, blobs: opts.Blobs, chunk: opts.Chunk, interval: opts.Interval, log: opts.Logger}
	if x.chunk == 0 {
		x.chunk = DefaultChunk
	}
	if x.interval == 0 {
		x.interval = DefaultInterval
	}
	if x.log == nil {
		x.log = slog.New(slog.DiscardHandler)
	}
	return x, nil
}

// Stats says what an Export did.
type Stats struct {
	// Records is the number of commit-log records exported.
	Records int
	// Files is the number of files written.
	Files int
	// Position is the last commit sequence exported when Export returned.
	Position uint64
}

// Export exports every commit-log record not exported yet, chunk by chunk, and returns
// when it has caught up with the last sequence committed when it started.
func (x *Exporter) Export(ctx context.Context) (Stats, error) {
	var st Stats
	last, err := x.src.LastSeq(ctx)
	if err != nil {
		return st, fmt.Errorf("logs: reading the last sequence: %w", err)
	}
	if seen := x.seen.Load(); last <= seen {
		st.Position = seen
		return st, nil
	}
	for {
		pos, end, err := x.plan(ctx, last)
		if err != nil {
			return st, err
		}
		st.Position = pos
		x.see(pos)
		if end <= pos {
			return st, nil
		}
		n, files, err := x.exportChunk(ctx, pos, end)
		if errors.Is(err, ErrMoved) {
			continue
		}
		if err != nil {
			return st, err
		}
		st.Records += n
		st.Files += files
		st.Position = end
		x.see(end)
	}
}

// see notes that the position is at least pos.
func (x *Exporter) see(pos uint64) {
	for {
		cur := x.seen.Load()
		if pos <= cur || x.seen.CompareAndSwap(cur, pos) {
			return
		}
	}
}

// Run exports until ctx ends, looking for new commits every Options.Interval. A failed
// export is retried at the next tick; the first failure of a run of them is logged at
// error level, then a reminder every failrun.Repeat (one minute), and the recovery at info
// level. It returns ctx's error.
func (x *Exporter) Run(ctx context.Context) error {
	t := time.NewTicker(x.interval)
	defer t.Stop()
	fails := failrun.Log{What: "logs: export"}
	for {
		if _, err := x.Export(ctx); err != nil && ctx.Err() == nil {
			fails.Failed(ctx, x.log, err, time.Now())
		} else if err == nil {
			fails.Succeeded(ctx, x.log, time.Now())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Position returns the last commit sequence exported.
func (x *Exporter) Position(ctx context.Context) (uint64, error) {
	var pos uint64
	err := x.kv.View(ctx, func(kt kv.Tx) error {
		var err error
		pos, err = readSeq(kt, keyPosition)
		return err
	})
	return pos, err
}

// plan returns the position and the end of the next chunk: the pending chunk if one was
// left by a crash (or is being written by another exporter), else a new one of at most
// x.chunk records up to last, recorded as pending before any file is written.
func (x *Exporter) plan(ctx context.Context, last uint64) (pos, end uint64, err error) {
	// Most calls (Run's ticks) find nothing to do: a read-only look first.
	err = x.kv.View(ctx, func(kt kv.Tx) error {
		if pos, err = readSeq(kt, keyPosition); err != nil {
			return err
		}
		end, err = readSeq(kt, keyPending)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("logs: planning a chunk: %w", err)
	}
	if end <= pos && last <= pos {
		return pos, pos, nil
	}
	err = x.kv.Update(ctx, func(kt kv.Tx) error {
		if pos, err = readSeq(kt, keyPosition); err != nil {
			return err
		}
		if end, err = readSeq(kt, keyPending); err != nil {
			return err
		}
		if end > pos {
			return nil
		}
		end = min(last, pos+uint64(x.chunk))
		if end <= pos {
			return nil
		}
		return kt.Put([]byte(keyPending), be64(end))
	})
	if err != nil {
		return 0, 0, fmt.Errorf("logs: planning a chunk: %w", err)
	}
	return pos, end, nil
}

// exportChunk writes the files of records (pos, end] and moves the position to end.
func (x *Exporter) exportChunk(ctx context.Context, pos, end uint64) (records, files int, err error) {
	var evs []dag.Record
	for after := pos; after < end; {
		page, err := x.src.Records(ctx, after, int(min(end-after, uint64(x.chunk))))
		if err != nil {
			return 0, 0, fmt.Errorf("logs: reading the commit log after %d: %w", after, err)
		}
		if len(page) == 0 {
			return 0, 0, fmt.Errorf("%w: the commit log ends at %d, before the pending end %d", ErrCorrupt, after, end)
		}
		if evs == nil && page[len(page)-1].Seq == end {
			evs = page // the chunk in one page: no copy
			break
		}
		if evs == nil {
			evs = make([]dag.Record, 0, end-pos)
		}
		for _, ev := range page {
			if ev.Seq > end {
				after = end // the log has no record end: the chunk ends before it
				break
			}
			evs = append(evs, ev)
			after = ev.Seq
		}
	}
	recs, invs, err := x.read(ctx, evs)
	if err != nil {
		return 0, 0, err
	}
	if err := x.settle(ctx, pos, end, invs); err != nil {
		return 0, 0, err
	}
	c := chunk{parts: map[partKey]*part{}, spare: x.takeSpare(), common: make([]byte, 0, len(invs)*commonSize)}
	var newRan []*invocation
	for i, ev := range evs {
		wrote, err := c.lines(ev.Event, &recs[i])
		if err != nil {
			return 0, 0, err
		}
		if wrote {
			newRan = append(newRan, recs[i].in)
		}
	}
	parts := make([]*part, 0, len(c.parts))
	for _, p := range c.parts {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].dir < parts[j].dir })
	items := make([]blob.BatchItem, 0, len(parts))
	for _, p := range parts {
		key := fmt.Sprintf("%s/%0*d-%0*d.jsonl", p.dir, SeqDigits, p.first, SeqDigits, p.last)
		items = append(items, blob.BatchItem{Key: key, Data: p.body, Opts: blob.PutOptions{Size: int64(len(p.body))}})
	}
	if err := x.write(ctx, items); err != nil {
		// The bodies are not kept: a Put that failed may still be reading its io.Reader
		// (an HTTP transport can read a request body after RoundTrip returned an error).
		return 0, 0, err
	}
	x.keepSpare(parts)
	markers := markers(newRan)
	err = x.kv.Update(ctx, func(kt kv.Tx) error {
		if err := stillAt(kt, pos, end); err != nil {
			return err
		}
		for _, m := range markers {
			if err := kt.Put(m.key, m.value); err != nil {
				return err
			}
		}
		if err := kt.Put([]byte(keyPosition), be64(end)); err != nil {
			return err
		}
		if err := kt.Delete([]byte(keyMessages)); err != nil {
			return err
		}
		return kt.Delete([]byte(keyPending))
	})
	if errors.Is(err, ErrMoved) {
		return 0, 0, err
	}
	if err != nil {
		return 0, 0, fmt.Errorf("logs: moving the position to %d: %w", end, err)
	}
	return len(evs), len(parts), nil
}

// write makes the chunk's files durable: in one batch when the store has batches
// (blob.Batcher: blob/fs syncs the file system once instead of each file and directory),
// else one Put each, in order.
func (x *Exporter) write(ctx context.Context, items []blob.BatchItem) error {
	if len(items) == 0 {
		return nil // a chunk with no records (a gap in the log) writes no file
	}
	if b, ok := x.blobs.(blob.Batcher); ok {
		if err := b.PutBatch(ctx, items); err != nil {
			return fmt.Errorf("logs: writing %d files (%s…): %w", len(items), items[0].Key, err)
		}
		return nil
	}
	for _, it := range items {
		if err := x.blobs.Put(ctx, it.Key, bytes.NewReader(it.Data), it.Opts); err != nil {
			return fmt.Errorf("logs: writing %s: %w", it.Key, err)
		}
	}
	return nil
}

// takeSpare returns the bodies kept from the last chunk (keepSpare), by kind of file, for
// this exporter's next chunk alone: an Export running meanwhile finds none.
func (x *Exporter) takeSpare() map[kind][]byte {
	x.spareMu.Lock()
	defer x.spareMu.Unlock()
	m := x.spare
	x.spare = nil
	return m
}

// keepSpare keeps the bodies of parts, the files of a chunk just written (the store is
// done with them), for the next chunk: by kind of file, emptied, the largest first up to
// maxSpareBytes of capacity in all (the first of a kind: a chunk across midnight has two
// files of a kind).
func (x *Exporter) keepSpare(parts []*part) {
	bySize := slices.Clone(parts)
	slices.SortFunc(bySize, func(a, b *part) int { return cmp.Compare(cap(b.body), cap(a.body)) })
	m := make(map[kind][]byte, len(bySize))
	total := 0
	for _, p := range bySize {
		if _, ok := m[p.kind]; ok || total+cap(p.body) > maxSpareBytes {
			continue
		}
		total += cap(p.body)
		m[p.kind] = p.body[:0]
		p.body = nil // the part is done: its body now belongs to the next chunk
	}
	x.spareMu.Lock()
	x.spare = m
	x.spareMu.Unlock()
}

// chunk is what a chunk's lines are encoded into: the lines are appended to their
// file's body as they are encoded, with no buffer of their own; the DAG-JSON of a
// receipt's out and the path and key of a line are written into scratch buffers reused
// from one line to the next (they are copied into the lines).
type chunk struct {
	parts          map[partKey]*part
	out, path, key []byte
	// common holds the invocations' invocation.common, one after the other (appendEntry):
	// one buffer a chunk rather than one grown for each.
	common []byte
	// spare holds bodies of the exporter's last chunk, by kind (Exporter.keepSpare): a
	// file of this chunk starts with its kind's, if there is one.
	spare    map[kind][]byte
	lastDay  int64 // the day (since the epoch) of day
	day      string
	dayKnown bool
}

// partKey names a file of the chunk: its directory is
// dir(typ, collection, op, day).
type partKey struct{ typ, collection, op, day string }

// kind is a partKey without its day: files of a kind are of about the same size from one
// chunk to the next.
type kind struct{ typ, collection, op string }

// part is one file of a chunk.
type part struct {
	dir         string
	kind        kind
	first, last uint64
	body        []byte
}

// part returns the file of k with a line of record seq about to be appended.
func (c *chunk) part(k partKey, seq uint64) *part {
	p := c.parts[k]
	if p == nil {
		kd := kind{k.typ, k.collection, k.op}
		body := c.spare[kd]
		if cap(body) < lineSize {
			body = make([]byte, 0, lineSize)
		}
		delete(c.spare, kd)
		p = &part{dir: dir(k.typ, k.collection, k.op, k.day), kind: kd, first: seq, body: body[:0]}
		c.parts[k] = p
	}
	p.last = seq
	if cap(p.body)-len(p.body) < lineSize {
		// Double rather than let append grow it by a quarter at a time: the body's
		// earlier copies are garbage.
		p.body = append(make([]byte, 0, 2*cap(p.body)+lineSize), p.body...)
	}
	return p
}

// dayOf returns the UTC day of ts (Unix ms) as YYYY-MM-DD, formatted once a day.
func (c *chunk) dayOf(ts int64) string {
	d := ts / msPerDay
	if ts%msPerDay < 0 {
		d--
	}
	if !c.dayKnown || d != c.lastDay {
		c.day, c.lastDay, c.dayKnown = time.UnixMilli(ts).UTC().Format(time.DateOnly), d, true
	}
	return c.day
}

const msPerDay = 24 * 60 * 60 * 1000

// invocation is what the lines of a chunk need of an invocation its receipts ran.
type invocation struct {
	c   cid.Cid
	raw []byte // its block
	r   rawInvocation
	// cid and task are the text of the invocation's CID and task CID (in the decoder's
	// text); op its Op.
	cid, task []byte
	op        string
	// message is the CID bytes (cid.Cid.KeyString) of the first request message it arrived
	// in, "" when none.
	message string
	// common is the part of its lines from "message" to "op", the same in each
	// (appendEntry writes it once, for the first).
	common []byte
	done   bool // it has its workflow line (in an earlier chunk, or earlier in this one)
	// known: message and done were set from the chunk's first record of the invocation
	// (dag.Record.Fresh), not to be read from kv.
	known bool
}

// record is a chunk's record read: its receipt and the invocation that ran.
type record struct {
	raw []byte // the receipt's block
	rc  rawReceipt
	in  *invocation
}

// errNeedBlocks ends decode without a transaction when a record lacks a block.
var errNeedBlocks = errors.New("logs: blocks to read")

// read reads the chunk's receipts and the invocations they ran, from the bytes the
// records carry (dag.Record) or, when some record lacks them, from blocks read
// in one read-only transaction of the source; then, for the invocations whose first
// record in the chunk does not say (dag.Record.Fresh), it looks up the invocation's
// message and whether it had its workflow line in an earlier chunk, in one kv
// transaction.
func (x *Exporter) read(ctx context.Context, evs []dag.Record) ([]record, map[string]*invocation, error) {
	d := decoder{recs: make([]record, len(evs)), invs: make(map[string]*invocation, len(evs)),
		pool: make([]invocation, 0, len(evs)), text: make([]byte, 0, len(evs)*2*cidTextSize), ops: map[string]string{}}
	err := d.decode(nil, evs)
	if errors.Is(err, errNeedBlocks) {
		// On from the first record that lacks a block: those before it are read.
		err = x.src.View(ctx, func(tx *dag.Tx) error { return d.decode(tx, evs) })
	}
	if err != nil {
		return nil, nil, err
	}
	var unknown []*invocation
	for _, in := range d.invs {
		if !in.known {
			unknown = append(unknown, in)
		}
	}
	if len(unknown) == 0 {
		return d.recs, d.invs, nil
	}
	err = x.kv.View(ctx, func(kt kv.Tx) error {
		for _, in := range unknown {
			v, err := kt.Get(ranKey(in.c))
			switch {
			case err == nil && len(v) > 0:
				// Exported in an earlier chunk, which recorded its message.
				in.done = true
				if in.message, err = markedMessage(v); err != nil {
					return fmt.Errorf("%w: %s of invocation %s: %w", ErrCorrupt, prefixRan, in.cid, err)
				}
				continue
			case err == nil:
				in.done = true // an earlier chunk of a version that did not record the message
			case !errors.Is(err, kv.ErrNotFound):
				return fmt.Errorf("logs: reading exported invocations: %w", err)
			}
			if in.message, err = messageOf(kt, in.c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return d.recs, d.invs, nil
}

// settle fixes, before any file of the chunk (pos, end] is written, the message its lines
// name for each invocation: in one kv transaction, the messages an earlier attempt at
// the same chunk recorded (logs/messages, left by a crash or written by another exporter)
// replace those just found, else those just found are recorded. So a chunk exported again
// names the messages its first attempt named, although the index invocation/<inv>/ may
// have grown in between (the invocation sent again in another message) and the records
// now come from kv rather than from the engine's memory; the position moves with
// logs/ran/<inv> holding each new invocation's message, which later chunks read.
func (x *Exporter) settle(ctx context.Context, pos, end uint64, invs map[string]*invocation) error {
	err := x.kv.Update(ctx, func(kt kv.Tx) error {
		if err := stillAt(kt, pos, end); err != nil {
			return err
		}
		v, err := kt.Get([]byte(keyMessages))
		switch {
		case errors.Is(err, kv.ErrNotFound):
		case err != nil:
			return err
		default:
			was, msgs, err := decodeMessages(v)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrCorrupt, keyMessages, err)
			}
			if was == end {
				for inv, m := range msgs {
					if in := invs[inv]; in != nil {
						in.message = m
					}
				}
				return nil
			}
		}
		v, err = encodeMessages(end, invs)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrCorrupt, keyMessages, err)
		}
		return kt.Put([]byte(keyMessages), v)
	})
	if errors.Is(err, ErrMoved) {
		return err
	}
	if err != nil {
		return fmt.Errorf("logs: recording the messages of the chunk ending at %d: %w", end, err)
	}
	return nil
}

// maxStateCID is the longest CID, in bytes, logs/messages holds (its length is written in
// a byte): far above the 36 bytes of the sha2-256 CIDs of invocations and messages.
const maxStateCID = 255

// encodeMessages returns the value of logs/messages: the chunk's end (BE8), then for each
// of its invocations the length of its CID bytes (a byte), them, and the same of its
// message (length 0: none). A CID longer than maxStateCID is refused.
func encodeMessages(end uint64, invs map[string]*invocation) ([]byte, error) {
	b := make([]byte, 0, 8+len(invs)*80)
	b = binary.BigEndian.AppendUint64(b, end)
	for inv, in := range invs {
		m := in.message
		if len(inv) > maxStateCID || len(m) > maxStateCID {
			return nil, fmt.Errorf("invocation %s (message %v): a CID of more than %d bytes", in.cid, m != "", maxStateCID)
		}
		b = append(append(b, byte(len(inv))), inv...)
		b = append(append(b, byte(len(m))), m...)
	}
	return b, nil
}

// decodeMessages reads a logs/messages value: the chunk's end and each invocation's
// message (its CID bytes, "": none), by the invocation's CID bytes.
func decodeMessages(v []byte) (uint64, map[string]string, error) {
	if len(v) < 8 {
		return 0, nil, fmt.Errorf("%d bytes, shorter than a sequence", len(v))
	}
	end := binary.BigEndian.Uint64(v)
	msgs := map[string]string{}
	for rest := v[8:]; len(rest) > 0; {
		var f [2][]byte
		for i := range f {
			if len(rest) < 1 || int(rest[0]) > len(rest)-1 {
				return 0, nil, fmt.Errorf("entry cut short")
			}
			f[i], rest = rest[1:1+int(rest[0])], rest[1+int(rest[0]):]
		}
		if err := checkCID(f[0]); err != nil {
			return 0, nil, fmt.Errorf("invocation: %w", err)
		}
		if len(f[1]) > 0 {
			if err := checkCID(f[1]); err != nil {
				return 0, nil, fmt.Errorf("message: %w", err)
			}
		}
		msgs[string(f[0])] = string(f[1])
	}
	return end, msgs, nil
}

// marker returns the value of logs/ran/<inv> for an invocation that arrived in the message
// of CID bytes msg ("": none), appended to b.
func marker(b []byte, msg string) []byte {
	return append(append(b, ranMarker), msg...)
}

// kvPair is a key and its value.
type kvPair struct{ key, value []byte }

// markers returns the logs/ran/<inv> keys and values of the invocations ins, in the
// order of their keys (a sorted batch is inserted into a skiplist memtable, Pebble's, with
// shorter searches), written into one buffer.
func markers(ins []*invocation) []kvPair {
	n := 0
	for _, in := range ins {
		n += len(prefixRan) + in.c.ByteLen() + 1 + len(in.message)
	}
	buf := make([]byte, 0, n)
	ms := make([]kvPair, len(ins))
	for i, in := range ins {
		at := len(buf)
		buf = append(append(buf, prefixRan...), in.c.KeyString()...)
		ms[i].key = buf[at:len(buf):len(buf)]
		at = len(buf)
		buf = marker(buf, in.message)
		ms[i].value = buf[at:len(buf):len(buf)]
	}
	slices.SortFunc(ms, func(a, b kvPair) int { return bytes.Compare(a.key, b.key) })
	return ms
}

// markedMessage reads the message (CID bytes, "": none) of a logs/ran/<inv> value
// written by marker.
func markedMessage(v []byte) (string, error) {
	if v[0] != ranMarker {
		return "", fmt.Errorf("marker %d", v[0])
	}
	if err := checkCID(v[1:]); len(v) > 1 && err != nil {
		return "", fmt.Errorf("message: %w", err)
	}
	return string(v[1:]), nil
}

// decoder holds the receipts of a chunk's records (recs, by record) and the invocations
// they ran (invs, by CID bytes), read up to the record next.
type decoder struct {
	recs []record
	invs map[string]*invocation
	// pool holds the invocations of invs (one allocation a chunk), text the text of their
	// CIDs and task CIDs (invocation.cid, .task), ops the Op of each command met.
	pool []invocation
	text []byte
	ops  map[string]string
	task []byte // scratch of taskCID
	next int
}

// cidTextSize is the length of the text of a CIDv1 of a sha2-256 hash ("b" and 58 base32
// characters): the room the decoder's text is started with for each invocation's CIDs.
const cidTextSize = 59

// keepText returns b[at:], appended to d.text by the caller, capped so that later appends
// to d.text cannot write into it.
func (d *decoder) keepText(at int) []byte { return d.text[at:len(d.text):len(d.text)] }

// decode reads, from d.next on, the receipts of evs and the invocations they ran, from
// the bytes the records carry, and from tx the blocks they lack; with tx nil it returns
// errNeedBlocks when a record lacks one, and a later call goes on from that record. The
// bytes are the blocks' either way, so the lines are too.
func (d *decoder) decode(tx *dag.Tx, evs []dag.Record) error {
	for ; d.next < len(evs); d.next++ {
		ev := &evs[d.next]
		raw := ev.ReceiptRaw
		if raw == nil {
			if tx == nil {
				return errNeedBlocks
			}
			var err error
			if raw, err = tx.Block(ev.Receipt); err != nil {
				return fmt.Errorf("logs: record %d: receipt %s: %w", ev.Seq, ev.Receipt, err)
			}
		}
		rc, err := readReceipt(raw)
		if err != nil {
			return fmt.Errorf("%w: record %d: receipt %s: %w", ErrCorrupt, ev.Seq, ev.Receipt, err)
		}
		in := d.invs[string(rc.ran)]
		if in == nil {
			if in, err = d.invocation(tx, ev, rc.ran); err != nil {
				return err
			}
		}
		d.recs[d.next] = record{raw: raw, rc: rc, in: in}
	}
	return nil
}

// invocation reads the invocation ran (CID bytes) of ev's receipt, from the bytes the
// record carries or (with tx) its block, and notes it in d.invs.
func (d *decoder) invocation(tx *dag.Tx, ev *dag.Record, ran []byte) (*invocation, error) {
	same := ev.RanRaw != nil && ev.Ran.KeyString() == string(ran)
	c := ev.Ran
	if !same {
		var err error
		if c, err = cid.Cast(ran); err != nil { // checked by readReceipt: not expected
			return nil, fmt.Errorf("%w: record %d: receipt %s: ran: %w", ErrCorrupt, ev.Seq, ev.Receipt, err)
		}
	}
	raw := ev.RanRaw
	if !same {
		if tx == nil {
			return nil, errNeedBlocks
		}
		var err error
		if raw, err = tx.Block(c); err != nil {
			return nil, fmt.Errorf("logs: record %d: invocation %s the receipt ran: %w", ev.Seq, c, err)
		}
	}
	r, err := readInvocation(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: record %d: block %s the receipt ran: %w", ErrCorrupt, ev.Seq, c, err)
	}
	op, ok := d.ops[string(r.cmd)]
	if !ok {
		op = Op(string(r.cmd))
		d.ops[string(r.cmd)] = op
	}
	d.pool = append(d.pool, invocation{c: c, raw: raw, r: r, op: op})
	in := &d.pool[len(d.pool)-1]
	at := len(d.text)
	d.text = cidtext.Append(d.text, c.KeyString())
	in.cid = d.keepText(at)
	at = len(d.text)
	if same && ev.Fresh && ev.RanTask.Defined() {
		d.text = cidtext.Append(d.text, ev.RanTask.KeyString())
	} else {
		d.text, d.task = taskCID(d.text, &r, d.task)
	}
	in.task = d.keepText(at)
	if ev.Fresh {
		// The record's batch knew the invocation's history: whether an earlier
		// record ran it, hence had its workflow line, and its first message, as
		// the fallback reads them from kv.
		in.known, in.done = true, !ev.First
		if ev.Message.Defined() {
			in.message = ev.Message.KeyString()
		}
	}
	d.invs[c.KeyString()] = in
	return in, nil
}

// lines appends the receipt line of ev (record rec) and, when the invocation it ran has
// no workflow line yet, its workflow line to their files, marking it done; it says whether
// it wrote a workflow line.
func (c *chunk) lines(ev dag.Event, rec *record) (bool, error) {
	in, rc := rec.in, &rec.rc
	status, err := c.encodeOut(rec)
	if err != nil {
		return false, fmt.Errorf("%w: record %d: out of receipt %s: %w", ErrCorrupt, ev.Seq, ev.Receipt, err)
	}
	day := c.dayOf(rc.ts)
	p := ev.Path
	rp := c.part(partKey{TypeReceipt, p.Collection, in.op, day}, ev.Seq)
	b := append(rp.body, `{"type":"receipt","receipt":"`...)
	b = cidtext.Append(b, ev.Receipt.KeyString())
	b = append(b, `","ran":"`...)
	b = append(append(b, in.cid...), '"')
	b = c.appendEntry(b, p, ev.Seq, rc.ts, day, in, status)
	b = append(b, `,"origin":`...)
	if rc.origin == nil {
		b = append(b, "null"...)
	} else {
		b = append(cidtext.Append(append(b, '"'), rc.origin), '"')
	}
	b = append(b, `,"fx":[`...)
	if rc.fx != nil {
		r := reader{b: rc.fx, trusted: true} // its links checked by readReceipt
		n, _ := r.expect(cbor.MajorArray, "fx")
		for i := range n {
			l, err := r.link("fx")
			if err != nil {
				return false, fmt.Errorf("%w: record %d: fx of receipt %s: %w", ErrCorrupt, ev.Seq, ev.Receipt, err)
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(cidtext.Append(append(b, '"'), l), '"')
		}
	}
	rp.body = append(b, "]}\n"...)
	if in.done {
		return false, nil
	}
	in.done = true
	ip := invocationPath(in, p, c.path)
	wp := c.part(partKey{TypeWorkflow, ip.Collection, in.op, day}, ev.Seq)
	b = append(wp.body, `{"type":"workflow","invocation":"`...)
	b = append(append(b, in.cid...), '"')
	b = append(b, `,"receipt":"`...)
	b = cidtext.Append(b, ev.Receipt.KeyString())
	b = append(b, '"')
	b = c.appendEntry(b, ip, ev.Seq, rc.ts, day, in, status)
	b = append(b, `,"args":`...)
	args, err := appendDAGJSONItem(b, in.r.args, 0)
	if errors.Is(err, errFloat) {
		var tok *ucan.Token
		if tok, err = ucan.Decode(in.raw); err == nil {
			args, err = encodeDAGJSON(b, tok.Invocation.Args)
		}
	}
	if err != nil {
		return false, fmt.Errorf("%w: record %d: args of invocation %s: %w", ErrCorrupt, ev.Seq, in.cid, err)
	}
	wp.body = append(args, "}\n"...)
	return true, nil
}

// appendEntry appends the fields both kinds of line have after their first three: the
// path and its parts, then those of Common.
func (c *chunk) appendEntry(b []byte, p dag.Path, seq uint64, ts int64, day string, in *invocation, status []byte) []byte {
	c.path = append(append(c.path[:0], '/'), p.Subject...)
	c.key = append(c.key[:0], p.Key...)
	for _, f := range p.Fields {
		c.key = append(append(c.key, '/'), f...)
	}
	if p.Collection != "" {
		c.path = append(append(c.path, '/'), p.Collection...)
		if p.Key != "" {
			c.path = append(append(c.path, '/'), c.key...)
		}
	}
	b = appendField(b, "path", c.path)
	b = appendField(b, "subject", p.Subject)
	b = appendField(b, "collection", p.Collection)
	b = appendField(b, "key", c.key)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = appendField(b, "date", day)
	if in.common == nil {
		at := len(c.common)
		c.common = appendCommon(c.common, in)
		in.common = c.common[at:len(c.common):len(c.common)]
	}
	b = append(b, in.common...)
	b = append(b, `,"out":`...)
	b = append(b, c.out...)
	return appendField(b, "status", status)
}

// appendCommon appends the fields of in's lines from "message" to "op": the same in each
// of its lines (its message is settled before any line is written).
func appendCommon(b []byte, in *invocation) []byte {
	b = append(b, `,"message":`...)
	if in.message == "" {
		b = append(b, "null"...)
	} else {
		b = append(cidtext.Append(append(b, '"'), in.message), '"')
	}
	b = append(b, `,"task":"`...)
	b = append(append(b, in.task...), '"')
	b = appendField(b, "iss", in.r.iss)
	b = append(b, `,"aud":`...)
	if in.r.aud == nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, in.r.aud)
	}
	b = appendField(b, "sub", in.r.sub)
	b = appendField(b, "cmd", in.r.cmd)
	return appendField(b, "op", in.op)
}

// encodeOut writes into c.out the DAG-JSON of rec's out, {"ok": state} or {"error":
// {message, name}} (as json.Marshal writes that), and returns the state's status (nil when
// it has none or for an error).
func (c *chunk) encodeOut(rec *record) ([]byte, error) {
	rc := &rec.rc
	if rc.ok == nil {
		b := append(c.out[:0], `{"error":{"message":`...)
		b = appendQuoted(b, rc.errMessage, quoteHTML)
		b = append(b, `,"name":`...)
		b = appendQuoted(b, rc.errName, quoteHTML)
		c.out = append(b, "}}"...)
		return nil, nil
	}
	b := append(c.out[:0], `{"ok":`...)
	out, err := appendDAGJSONItem(b, rc.ok, 2)
	if errors.Is(err, errFloat) {
		var r *receipts.Receipt
		if _, r, err = receipts.Decode(rec.raw); err == nil {
			out, err = encodeDAGJSON(b, r.Out.Ok)
		}
	}
	if err != nil {
		return nil, err
	}
	c.out = append(out, '}')
	return mapText(rc.ok, "status"), nil
}

// messageOf returns the request message inv arrived in (the first by CID when several),
// as CID bytes, or "" when it came in none.
func messageOf(kt kv.Tx, inv cid.Cid) (string, error) {
	pre := []byte(archive.InvocationPrefix + inv.String() + "/")
	var msg string
	err := kt.Scan(kv.ScanOptions{Start: pre, End: kv.PrefixEnd(pre)}, func(k, _ []byte) error {
		name, ok := strings.CutSuffix(string(k[len(pre):]), ".in")
		if !ok {
			return nil
		}
		c, err := cid.Decode(name)
		if err != nil {
			return fmt.Errorf("%w: index key %q: %w", ErrCorrupt, k, err)
		}
		msg = c.KeyString()
		return kv.ErrStop
	})
	if err != nil {
		return "", fmt.Errorf("logs: messages of invocation %s: %w", inv, err)
	}
	return msg, nil
}

// invocationPath is the path an invocation is about: its args.path (relative to its
// subject, or absolute) when that parses, else the path of its first receipt. firstText is
// the line's text of first ("path"): an args.path that spells it (a put's, most often) is
// first, not parsed again (a path that parses is its segments joined by "/", and first's
// segments hold no "/", so parsing its text gives first's subject, collection, key and
// fields).
func invocationPath(in *invocation, first dag.Path, firstText []byte) dag.Path {
	v := mapText(in.r.args, "path")
	if v == nil {
		return first
	}
	if (first.Key != "" || len(first.Fields) == 0) && spells(v, in.r.sub, firstText) {
		return first
	}
	s := string(v)
	if !strings.HasPrefix(s, "/") {
		s = "/" + string(in.r.sub) + "/" + s
	}
	p, err := dag.ParsePath(s)
	if err != nil || p.Collection == "" {
		return first
	}
	return p
}

// spells says whether the args.path v of an invocation of subject sub, made absolute as
// invocationPath does, is text.
func spells(v, sub, text []byte) bool {
	if len(v) > 0 && v[0] == '/' {
		return bytes.Equal(v, text)
	}
	n := len(sub)
	return len(text) == n+len(v)+2 && text[0] == '/' && bytes.Equal(text[1:1+n], sub) &&
		text[1+n] == '/' && bytes.Equal(text[2+n:], v)
}

// Key returns the "key" of a line: the path's key and its fields, as select lists the
// entries of collections named by key and fields ("store/add-total" in metrics).
func Key(p dag.Path) string {
	return strings.Join(append([]string{p.Key}, p.Fields...), "/")
}

// Op returns the <op> of a command in file names: its last segment, with every byte
// other than an ASCII letter, digit, "-" or "_" replaced by "_" ("unknown" when empty).
func Op(cmd string) string {
	seg := cmd[strings.LastIndexByte(cmd, '/')+1:]
	if seg == "" {
		return "unknown"
	}
	b := []byte(seg)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			b[i] = '_'
		}
	}
	return string(b)
}

func dir(typ, collection, op, day string) string {
	return Prefix + typ + "/" + collection + "-" + op + "/" + day
}

func ranKey(inv cid.Cid) []byte { return append([]byte(prefixRan), inv.Bytes()...) }

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func readSeq(kt kv.Tx, key string) (uint64, error) {
	v, err := kt.Get([]byte(key))
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(v) != 8:
		return 0, fmt.Errorf("%w: %s of %d bytes", ErrCorrupt, key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// stillAt returns ErrMoved unless the recorded position and pending end are still pos and
// end: another exporter (or a retry) moved them since this one read them.
func stillAt(kt kv.Tx, pos, end uint64) error {
	cur, err := readSeq(kt, keyPosition)
	if err != nil {
		return err
	}
	pend, err := readSeq(kt, keyPending)
	if err != nil {
		return err
	}
	if cur != pos || pend != end {
		return ErrMoved
	}
	return nil
}
