package logs

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/dag"
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

// kv keys of the exporter's state, all under Prefix.
const (
	keyPosition = Prefix + "position" // BE8: last commit sequence exported
	keyPending  = Prefix + "pending"  // BE8: end of the chunk being written, while it is
	prefixRan   = Prefix + "ran/"     // + invocation CID bytes: has its workflow line
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

// Run exports until ctx ends, looking for new commits every Options.Interval. Errors are
// logged and retried at the next tick. It returns ctx's error.
func (x *Exporter) Run(ctx context.Context) error {
	t := time.NewTicker(x.interval)
	defer t.Stop()
	for {
		if _, err := x.Export(ctx); err != nil && ctx.Err() == nil {
			x.log.Error("logs: export", "err", err)
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
	c := chunk{parts: map[string]*part{}}
	var newRan []cid.Cid
	for i, ev := range evs {
		wrote, err := c.lines(ev.Event, recs[i], invs[recs[i].Ran])
		if err != nil {
			return 0, 0, err
		}
		if wrote {
			newRan = append(newRan, recs[i].Ran)
		}
	}
	parts := c.parts
	names := make([]string, 0, len(parts))
	for dir := range parts {
		names = append(names, dir)
	}
	sort.Strings(names)
	items := make([]blob.BatchItem, 0, len(names))
	for _, dir := range names {
		p := parts[dir]
		key := fmt.Sprintf("%s/%0*d-%0*d.jsonl", dir, SeqDigits, p.first, SeqDigits, p.last)
		items = append(items, blob.BatchItem{Key: key, Data: p.body, Opts: blob.PutOptions{Size: int64(len(p.body))}})
	}
	if err := x.write(ctx, items); err != nil {
		return 0, 0, err
	}
	err = x.kv.Update(ctx, func(kt kv.Tx) error {
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
		for _, inv := range newRan {
			if err := kt.Put(ranKey(inv), nil); err != nil {
				return err
			}
		}
		if err := kt.Put([]byte(keyPosition), be64(end)); err != nil {
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

// chunk is what a chunk's lines are encoded into: the lines are appended to their
// file's body as they are encoded, with no buffer of their own, and the DAG-JSON of a
// receipt's out and an invocation's args is encoded into scratch buffers reused from one
// record to the next (they are copied into the lines).
type chunk struct {
	parts     map[string]*part
	out, args []byte
}

// part is one file of a chunk.
type part struct {
	first, last uint64
	body        []byte
}

// part returns the file of dir with a line of record seq about to be appended.
func (c *chunk) part(dir string, seq uint64) *part {
	p := c.parts[dir]
	if p == nil {
		p = &part{first: seq, body: make([]byte, 0, lineSize)}
		c.parts[dir] = p
	}
	p.last = seq
	if cap(p.body)-len(p.body) < lineSize {
		// Double rather than let append grow it by a quarter at a time: the body's
		// earlier copies are garbage.
		p.body = append(make([]byte, 0, 2*cap(p.body)+lineSize), p.body...)
	}
	return p
}

// invocation is what the lines of a chunk need of an invocation its receipts ran.
type invocation struct {
	inv *ucan.Invocation
	// cid and task are the invocation's CID and task CID as strings.
	cid, task string
	message   *string // first request message it arrived in, nil when none
	done      bool    // it has its workflow line (in an earlier chunk, or earlier in this one)
	// known: message and done were set from the chunk's first record of the invocation
	// (dag.Record.Fresh), not to be read from kv.
	known bool
}

// errNeedBlocks ends decode without a transaction when a record lacks a block.
var errNeedBlocks = errors.New("logs: blocks to read")

// read decodes the chunk's receipts and the invocations they ran, from the bytes the
// records carry (dag.Record) or, when some record lacks them, from blocks read
// in one read-only transaction of the source; then, for the invocations whose first
// record in the chunk does not say (dag.Record.Fresh), it looks up the invocation's
// message and whether it had its workflow line in an earlier chunk, in one kv
// transaction.
func (x *Exporter) read(ctx context.Context, evs []dag.Record) ([]*receipts.Receipt, map[cid.Cid]*invocation, error) {
	d := decoder{recs: make([]*receipts.Receipt, len(evs)), invs: map[cid.Cid]*invocation{}}
	err := d.decode(nil, evs)
	if errors.Is(err, errNeedBlocks) {
		// On from the first record that lacks a block: those before it are decoded.
		err = x.src.View(ctx, func(tx *dag.Tx) error { return d.decode(tx, evs) })
	}
	if err != nil {
		return nil, nil, err
	}
	recs, invs := d.recs, d.invs
	var unknown []cid.Cid
	for c, inv := range invs {
		if !inv.known {
			unknown = append(unknown, c)
		}
	}
	if len(unknown) == 0 {
		return recs, invs, nil
	}
	err = x.kv.View(ctx, func(kt kv.Tx) error {
		for _, c := range unknown {
			inv := invs[c]
			_, err := kt.Get(ranKey(c))
			switch {
			case err == nil:
				inv.done = true
			case !errors.Is(err, kv.ErrNotFound):
				return fmt.Errorf("logs: reading exported invocations: %w", err)
			}
			if inv.message, err = messageOf(kt, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return recs, invs, nil
}

// decoder holds the receipts of a chunk's records (recs, by record) and the invocations
// they ran (invs), decoded up to the record next.
type decoder struct {
	recs []*receipts.Receipt
	invs map[cid.Cid]*invocation
	next int
}

// decode decodes, from d.next on, the receipts of evs and the invocations they ran, from
// the bytes the records carry, and from tx the blocks they lack; with tx nil it returns
// errNeedBlocks when a record lacks one, and a later call goes on from that record. The
// bytes are the blocks' either way, so the lines are too.
func (d *decoder) decode(tx *dag.Tx, evs []dag.Record) error {
	for ; d.next < len(evs); d.next++ {
		ev := &evs[d.next]
		r, err := decodeReceipt(tx, ev)
		if err != nil {
			return err
		}
		d.recs[d.next] = r
		if d.invs[r.Ran] != nil {
			continue
		}
		tok, err := decodeRan(tx, ev, r.Ran)
		if err != nil {
			return err
		}
		if tok.Invocation == nil {
			return fmt.Errorf("%w: record %d: block %s the receipt ran is a delegation, not an invocation", ErrCorrupt, ev.Seq, r.Ran)
		}
		task := ev.RanTask
		if !task.Defined() || !ev.Fresh || !ev.Ran.Equals(r.Ran) {
			if task, err = tok.Invocation.Task(); err != nil {
				return fmt.Errorf("%w: record %d: invocation %s: %w", ErrCorrupt, ev.Seq, r.Ran, err)
			}
		}
		in := &invocation{inv: tok.Invocation, cid: r.Ran.String(), task: task.String()}
		if ev.Fresh {
			// The record's batch knew the invocation's history: whether an earlier
			// record ran it, hence had its workflow line, and its first message, as
			// the fallback below reads them from kv.
			in.known, in.done = true, !ev.First
			if ev.Message.Defined() {
				m := ev.Message.String()
				in.message = &m
			}
		}
		d.invs[r.Ran] = in
	}
	return nil
}

// decodeReceipt returns the receipt of ev, decoded from the bytes the record carries or
// (with tx) read from its block.
func decodeReceipt(tx *dag.Tx, ev *dag.Record) (*receipts.Receipt, error) {
	raw := ev.ReceiptRaw
	if raw == nil {
		if tx == nil {
			return nil, errNeedBlocks
		}
		var err error
		if raw, err = tx.Block(ev.Receipt); err != nil {
			return nil, fmt.Errorf("logs: record %d: receipt %s: %w", ev.Seq, ev.Receipt, err)
		}
	}
	_, r, err := receipts.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: record %d: receipt %s: %w", ErrCorrupt, ev.Seq, ev.Receipt, err)
	}
	return r, nil
}

// decodeRan returns the invocation ran of ev's receipt, decoded from the bytes the record
// carries or (with tx) read from its block.
func decodeRan(tx *dag.Tx, ev *dag.Record, ran cid.Cid) (*ucan.Token, error) {
	var raw []byte
	if ev.RanRaw != nil && ev.Ran.Equals(ran) {
		raw = ev.RanRaw
	}
	if raw == nil {
		if tx == nil {
			return nil, errNeedBlocks
		}
		var err error
		if raw, err = tx.Block(ran); err != nil {
			return nil, fmt.Errorf("logs: record %d: invocation %s the receipt ran: %w", ev.Seq, ran, err)
		}
	}
	tok, err := ucan.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: record %d: block %s the receipt ran: %w", ErrCorrupt, ev.Seq, ran, err)
	}
	return tok, nil
}

// lines appends the receipt line of ev (receipt r, which ran in) and, when in has no
// workflow line yet, its workflow line to their files, marking in done; it says whether
// it wrote a workflow line.
func (c *chunk) lines(ev dag.Event, r *receipts.Receipt, in *invocation) (bool, error) {
	inv := in.inv
	out, status, err := encodeOut(c.out[:0], r.Out)
	if err != nil {
		return false, fmt.Errorf("%w: record %d: out of receipt %s: %w", ErrCorrupt, ev.Seq, ev.Receipt, err)
	}
	c.out = out
	ts := time.UnixMilli(r.TS).UTC()
	day := ts.Format(time.DateOnly)
	op := Op(inv.Command)
	rcpt := ev.Receipt.String()
	common := Common{
		Seq: ev.Seq, TS: r.TS, Date: day, Message: in.message, Task: in.task,
		Iss: inv.Issuer, Aud: optional(inv.Audience), Sub: inv.Subject, Cmd: inv.Command, Op: op,
		Out: out, Status: status,
	}
	rec := Receipt{
		Type: TypeReceipt, Receipt: rcpt, Ran: in.cid, Common: common,
		Path: ev.Path.String(), Subject: ev.Path.Subject, Collection: ev.Path.Collection, Key: Key(ev.Path),
		Fx: make([]string, 0, len(r.Fx)),
	}
	if r.Origin != nil {
		o := r.Origin.String()
		rec.Origin = &o
	}
	for _, f := range r.Fx {
		rec.Fx = append(rec.Fx, f.String())
	}
	rp := c.part(dir(TypeReceipt, ev.Path.Collection, op, day), ev.Seq)
	rp.body = rec.appendJSON(rp.body)
	if in.done {
		return false, nil
	}
	in.done = true
	p := invocationPath(inv, ev.Path)
	args := append(c.args[:0], "{}"...)
	if inv.Args != nil {
		if args, err = encodeDAGJSON(c.args[:0], inv.Args); err != nil {
			return false, fmt.Errorf("%w: record %d: args of invocation %s: %w", ErrCorrupt, ev.Seq, r.Ran, err)
		}
	}
	c.args = args
	wf := Workflow{
		Type: TypeWorkflow, Invocation: in.cid, Receipt: rcpt, Common: common,
		Path: p.String(), Subject: p.Subject, Collection: p.Collection, Key: Key(p), Args: args,
	}
	wp := c.part(dir(TypeWorkflow, p.Collection, op, day), ev.Seq)
	wp.body = wf.appendJSON(wp.body)
	return true, nil
}

// messageOf returns the request message inv arrived in (the first by CID when several), or
// nil when it came in none.
func messageOf(kt kv.Tx, inv cid.Cid) (*string, error) {
	pre := []byte(archive.InvocationPrefix + inv.String() + "/")
	var msg *string
	err := kt.Scan(kv.ScanOptions{Start: pre, End: kv.PrefixEnd(pre)}, func(k, _ []byte) error {
		name, ok := strings.CutSuffix(string(k[len(pre):]), ".in")
		if !ok {
			return nil
		}
		c, err := cid.Decode(name)
		if err != nil {
			return fmt.Errorf("%w: index key %q: %w", ErrCorrupt, k, err)
		}
		s := c.String()
		msg = &s
		return kv.ErrStop
	})
	if err != nil {
		return nil, fmt.Errorf("logs: messages of invocation %s: %w", inv, err)
	}
	return msg, nil
}

// invocationPath is the path an invocation is about: its args.path (relative to its
// subject, or absolute) when that parses, else the path of its first receipt.
func invocationPath(inv *ucan.Invocation, first dag.Path) dag.Path {
	if inv.Args == nil || inv.Args.Kind() != datamodel.Kind_Map {
		return first
	}
	n, err := inv.Args.LookupByString("path")
	if err != nil {
		return first
	}
	s, err := n.AsString()
	if err != nil {
		return first
	}
	if !strings.HasPrefix(s, "/") {
		s = "/" + inv.Subject + "/" + s
	}
	p, err := dag.ParsePath(s)
	if err != nil || p.Collection == "" {
		return first
	}
	return p
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

// encodeOut appends to b the DAG-JSON of {"ok": state} or {"error": {name, message}} and
// returns it with the state's status ("" when it has none or for an error).
func encodeOut(b []byte, o receipts.Out) (json.RawMessage, string, error) {
	if o.Err != nil {
		e, err := json.Marshal(map[string]map[string]string{"error": {"name": o.Err.Name, "message": o.Err.Message}})
		return append(b, e...), "", err
	}
	b, err := encodeDAGJSON(append(b, `{"ok":`...), o.Ok)
	if err != nil {
		return nil, "", err
	}
	b = append(b, '}')
	status := ""
	if o.Ok.Kind() == datamodel.Kind_Map {
		if n, err := o.Ok.LookupByString("status"); err == nil {
			status, _ = n.AsString()
		}
	}
	return b, status, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
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
