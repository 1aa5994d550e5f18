package dag

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// Select limits.
const (
	// DefaultSelectLimit is the page size of a select without a limit.
	DefaultSelectLimit = 100
	// MaxSelectLimit is the largest page size a select may ask for.
	MaxSelectLimit = 1000
	// DefaultSelectPageBytes is the byte budget of a select page when Query.MaxBytes is
	// zero: a page also ends (full, with a cursor) once its entries' stored bytes reach it,
	// so a page block stays near it whatever the entries' sizes (far below the 16 MiB
	// block clients accept, message.MaxReplyBlockSize). serve --select-page-bytes.
	DefaultSelectPageBytes = 1 << 20
	// cursorVersion prefixes every cursor so its format can change.
	cursorVersion = 1
)

// Query selects entries of a collection.
type Query struct {
	// Limit is the page size; zero means DefaultSelectLimit, more than MaxSelectLimit is
	// ErrInvalidQuery.
	Limit int
	// Cursor continues a previous select ("" starts at the beginning).
	Cursor string
	// Status keeps only entries with this status; "" keeps every entry except removed
	// ones. Removed entries are listed only when Status is "removed".
	Status string
	// Allow, when set, is asked about each entry the page would list; entries it refuses
	// are skipped as if absent (the page still fills up to Limit with allowed ones). Its
	// error ends the select with that error. ops uses it to apply the policies of the
	// invocation's delegations to every entry a select returns.
	Allow func(Path) (bool, error)
	// MaxBytes is the page's byte budget: entries are added while the stored bytes of
	// those already on the page are below it (the first entry always fits); zero means
	// DefaultSelectPageBytes. A page ended by it is full: it has a cursor.
	MaxBytes int
}

// readResult issues the (unstored) receipt of a read.
func (e *Engine) readResult(inv *ucan.Token, p Path, seq uint64, ok datamodel.Node, ferr error) (*Result, error) {
	r := receipts.Receipt{Ran: inv.CID, Path: p.String(), TS: e.clock().UnixMilli(), Seq: seq}
	if ferr != nil {
		r.Out.Err = &receipts.Failure{Name: ErrorName(ferr), Message: Message(ferr)}
	} else {
		r.Out.Ok = ok
	}
	tok, err := receipts.Issue(e.signer, r, e.seal)
	if err != nil {
		return nil, err
	}
	return &Result{Receipt: tok, Out: r.Out, Err: ferr}, nil
}

func readSeq(kt kv.Tx) (uint64, error) {
	b := &batchState{}
	if err := b.loadSeq(kt); err != nil {
		return 0, err
	}
	return b.seq, nil
}

// Get runs dag/get: the entry at p (removed entries included, as their tombstone) or, when
// p has fields, the value at those fields inside its state. The receipt (not stored) has
// out.ok {path, head: &Receipt, value}; the head receipt block is in Result.Blocks.
// Missing entries and fields are ErrNotFound.
func (e *Engine) Get(ctx context.Context, inv *ucan.Token, p Path) (*Result, error) {
	if inv == nil {
		return nil, fmt.Errorf("dag: Get needs an invocation token")
	}
	var ent *Entry
	var head []byte
	var seq uint64
	var c *resolved
	ferr := func() error {
		if !p.IsEntry() {
			return failure(ErrInvalidPath, "get needs an entry path <collection>/<key>[/<field>…], got %s", p)
		}
		var err error
		c, err = e.collection(p, inv, false)
		return err
	}()
	if ferr == nil {
		err := e.kv.View(ctx, func(kt kv.Tx) error {
			var err error
			if seq, err = readSeq(kt); err != nil {
				return err
			}
			t := &Tx{e: e, kt: &countTx{Tx: kt}, b: &batchState{}}
			ent, head, err = e.getEntry(t, inv, c, p, seq)
			return err
		})
		if err != nil && ErrorName(err) == "" {
			return nil, err
		}
		ferr = err
	}
	var ok datamodel.Node
	if ferr == nil {
		v, err := lookupFields(ent.State, fieldsPath(p, ent))
		if err != nil {
			ferr = err
		} else {
			ok, err = qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "path", qp.String(p.String()))
				qp.MapEntry(ma, "head", qp.Link(cidlink.Link{Cid: ent.Head}))
				qp.MapEntry(ma, "value", qp.Node(v))
			})
			if err != nil {
				return nil, err
			}
		}
	}
	res, err := e.readResult(inv, p, seq, ok, ferr)
	if err != nil {
		return nil, err
	}
	res.Entry = ent
	if ferr == nil {
		res.Blocks = []Block{{CID: ent.Head, Raw: head}}
	}
	return res, nil
}

func lookupFields(n datamodel.Node, p Path) (datamodel.Node, error) {
	for i, f := range p.Fields {
		var next datamodel.Node
		var err error
		switch n.Kind() {
		case datamodel.Kind_Map:
			next, err = n.LookupByString(f)
		case datamodel.Kind_List:
			idx, perr := strconv.ParseUint(f, 10, 31)
			if perr != nil {
				return nil, failure(ErrNotFound, "%s: field %q: the value there is a list, index with a number", p, f)
			}
			next, err = n.LookupByIndex(int64(idx))
		default:
			return nil, failure(ErrNotFound, "%s: field %q: the value at /%s is %s, not a map or list", p, f, joinFields(p.Fields[:i]), n.Kind())
		}
		if err != nil || next == nil {
			return nil, failure(ErrNotFound, "%s: no field %q at /%s", p, f, joinFields(p.Fields[:i]))
		}
		n = next
	}
	return n, nil
}

func joinFields(fs []string) string {
	s := ""
	for i, f := range fs {
		if i > 0 {
			s += "/"
		}
		s += f
	}
	return s
}

// Select runs dag/select over the collection p names: entries in insertion order, pages
// full unless no more entries exist, an opaque cursor to continue. The receipt (not
// stored) has out.ok {page: &Page, count, cursor?}; the page block (Result.Blocks) is
// DAG-CBOR {entries: [{key, head: &Receipt, state}]}: receipts are tokens of at most
// ucan.MaxTokenSize bytes, so a page of up to MaxSelectLimit states is linked, not copied.
func (e *Engine) Select(ctx context.Context, inv *ucan.Token, p Path, q Query) (*Result, error) {
	if inv == nil {
		return nil, fmt.Errorf("dag: Select needs an invocation token")
	}
	var page *Page
	var seq uint64
	ferr := func() error {
		if p.Collection == "" || p.Key != "" {
			return failure(ErrInvalidPath, "select needs a collection path <collection>, got %s", p)
		}
		c, err := e.collection(p, inv, false)
		if err != nil {
			return err
		}
		if q.Status != "" && !c.schema.HasStatus(q.Status) {
			return failure(ErrInvalidQuery, "status %q is not a status of collection %q (statuses: %v)", q.Status, c.Name, c.schema.Statuses)
		}
		return nil
	}()
	if ferr == nil {
		err := e.kv.View(ctx, func(kt kv.Tx) error {
			var err error
			if seq, err = readSeq(kt); err != nil {
				return err
			}
			page, err = selectPage(kt, p, q)
			return err
		})
		if err != nil && ErrorName(err) == "" {
			return nil, err
		}
		ferr = err
	}
	var ok datamodel.Node
	var blk Block
	if ferr == nil {
		var err error
		if ok, blk, err = pageResult(page); err != nil {
			return nil, err
		}
	}
	res, err := e.readResult(inv, p, seq, ok, ferr)
	if err != nil {
		return nil, err
	}
	res.Page = page
	if ferr == nil {
		res.Blocks = []Block{blk}
	}
	return res, nil
}

// SelectPage reads a page without an invocation or receipt (for the service's own use:
// task runners, reports).
func (e *Engine) SelectPage(ctx context.Context, p Path, q Query) (*Page, error) {
	if p.Collection == "" || p.Key != "" {
		return nil, failure(ErrInvalidPath, "select needs a collection path <collection>, got %s", p)
	}
	var page *Page
	err := e.kv.View(ctx, func(kt kv.Tx) error {
		var err error
		page, err = selectPage(kt, p, q)
		return err
	})
	return page, err
}

// EncodeCursor returns the cursor that continues a select after the entry with order.
func EncodeCursor(order uint64) string {
	b := append([]byte{cursorVersion}, be64(order)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 9 || b[0] != cursorVersion {
		return 0, failure(ErrInvalidQuery, "cursor %q is not a cursor this service returned", s)
	}
	return beUint64(b[1:]), nil
}

func selectPage(kt kv.Tx, p Path, q Query) (*Page, error) {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = DefaultSelectLimit
	case limit < 0:
		return nil, failure(ErrInvalidQuery, "limit %d is negative", limit)
	case limit > MaxSelectLimit:
		return nil, failure(ErrInvalidQuery, "limit %d is more than the maximum of %d", limit, MaxSelectLimit)
	}
	prefix := orderPrefix(p.Entry())
	opts := kv.ScanOptions{Start: prefix, End: kv.PrefixEnd(prefix)}
	if q.Cursor != "" {
		after, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, err
		}
		if after == ^uint64(0) {
			return &Page{}, nil
		}
		opts.Start = orderKey(p, after+1)
	}
	maxBytes := q.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultSelectPageBytes
	}
	page := &Page{}
	var last uint64
	size := 0
	more := false
	err := kt.Scan(opts, func(k, v []byte) error {
		status, key, err := parseOrderValue(v)
		if err != nil {
			return err
		}
		if q.Status == "" && status == StatusRemoved || q.Status != "" && status != q.Status {
			return nil
		}
		ep := splitEntryName(p, key)
		if q.Allow != nil {
			ok, err := q.Allow(ep)
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
		}
		if len(page.Entries) == limit || size >= maxBytes {
			more = true
			return kv.ErrStop
		}
		if len(k) != len(prefix)+8 {
			return fmt.Errorf("%w: order key of %d bytes", ErrCorrupt, len(k))
		}
		raw, err := kt.Get(entryKey(ep))
		if err != nil {
			return fmt.Errorf("%w: indexed entry %s: %w", ErrCorrupt, ep, err)
		}
		ent, err := decodeEntry(ep, raw)
		if err != nil {
			return err
		}
		page.Entries = append(page.Entries, ent)
		size += len(raw)
		last = beUint64(k[len(prefix):])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("selecting %s: %w", p, err)
	}
	if more && len(page.Entries) > 0 {
		page.Cursor = EncodeCursor(last)
	}
	return page, nil
}

// pageResult encodes the page block and the select receipt's out.ok
// {page: &Page, count, cursor?}.
func pageResult(page *Page) (datamodel.Node, Block, error) {
	raw := encodePage(page)
	c, err := cborCID(raw)
	if err != nil {
		return nil, Block{}, err
	}
	n := int64(2)
	if page.Cursor != "" {
		n++
	}
	ok, err := qp.BuildMap(basicnode.Prototype.Map, n, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "page", qp.Link(cidlink.Link{Cid: c}))
		qp.MapEntry(ma, "count", qp.Int(int64(len(page.Entries))))
		if page.Cursor != "" {
			qp.MapEntry(ma, "cursor", qp.String(page.Cursor))
		}
	})
	return ok, Block{CID: c, Raw: raw}, err
}

// Entry returns the stored entry p addresses (its fields after the entry's name are
// ignored), or an error wrapping ErrNotFound. In a collection whose machine is a Reader
// the Reader finds it, and an entry it computes for reads (not stored) is ErrNotFound.
func (e *Engine) Entry(ctx context.Context, p Path) (*Entry, error) {
	var r Reader
	if len(p.Fields) > 0 {
		if c, _, err := e.resolve(p); err == nil {
			r, _ = c.Machine.(Reader)
		}
	}
	var ent *Entry
	err := e.View(ctx, func(t *Tx) error {
		var err error
		if r == nil {
			ent, err = t.Entry(p)
			return err
		}
		if ent, err = r.Read(t, p); err == nil && !ent.Head.Defined() {
			err = failure(ErrNotFound, "no entry at %s (%s is computed when read)", p, ent.Path)
		}
		return err
	})
	return ent, err
}

// Block returns the stored block with CID c (receipts, invocations), or an error
// wrapping ErrNotFound.
func (e *Engine) Block(ctx context.Context, c cid.Cid) ([]byte, error) {
	var raw []byte
	err := e.View(ctx, func(t *Tx) error {
		var err error
		raw, err = t.Block(c)
		return err
	})
	return raw, err
}

// Receipt returns the stored token (receipt or invocation) with CID c, decoded.
func (e *Engine) Receipt(ctx context.Context, c cid.Cid) (*ucan.Token, error) {
	raw, err := e.Block(ctx, c)
	if err != nil {
		return nil, err
	}
	t, err := ucan.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: block %s: %w", ErrCorrupt, c, err)
	}
	return t, nil
}

// Chain walks the receipt chain from head through origin links (see receipts.Walk),
// verifying every receipt against the service DID.
func (e *Engine) Chain(ctx context.Context, head cid.Cid, fn func(*ucan.Token, *receipts.Receipt) error) error {
	return receipts.Walk(ctx, func(c cid.Cid) ([]byte, error) { return e.Block(ctx, c) }, head, e.service, fn)
}

// ChainStored is Chain without verifying signatures again (receipts.WalkStored): every
// receipt in the engine's store was issued and signed by the engine in the transaction
// that stored it. Blocks are still checked against their CIDs, issuer and path. For
// serving chains to anonymous readers, who verify them themselves.
func (e *Engine) ChainStored(ctx context.Context, head cid.Cid, fn func(*ucan.Token, *receipts.Receipt) error) error {
	return receipts.WalkStored(ctx, func(c cid.Cid) ([]byte, error) { return e.Block(ctx, c) }, head, e.service, fn)
}

// LastSeq returns the last committed commit-log sequence (0 when nothing committed).
func (e *Engine) LastSeq(ctx context.Context) (uint64, error) {
	var seq uint64
	err := e.kv.View(ctx, func(kt kv.Tx) error {
		var err error
		seq, err = readSeq(kt)
		return err
	})
	return seq, err
}

// Log returns up to limit commit-log records with sequence greater than after, in order.
func (e *Engine) Log(ctx context.Context, after uint64, limit int) ([]Event, error) {
	if limit <= 0 || limit > logPage {
		limit = logPage
	}
	var evs []Event
	err := e.kv.View(ctx, func(kt kv.Tx) error {
		var err error
		evs, err = readLog(kt, after, limit)
		return err
	})
	return evs, err
}

// Records returns up to limit commit-log records with sequence greater than after, in
// order, as Log does, but with the blocks the records name when this engine committed them
// recently (the last WatchRing records, kept in memory for watchers, the newest of them
// with their blocks up to WatchRingBytes): the receipt's bytes and those of the
// invocation it ran (Record). Records read from the log instead (the engine restarted,
// the reader is behind, another process committed them) or past WatchRingBytes have
// neither.
func (e *Engine) Records(ctx context.Context, after uint64, limit int) ([]Record, error) {
	if limit <= 0 || limit > logPage {
		limit = logPage
	}
	if recs, _, _ := e.hub.records(after, limit); len(recs) > 0 {
		return recs, nil
	}
	evs, err := e.Log(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	recs := make([]Record, len(evs))
	for i, ev := range evs {
		recs[i].Event = ev
	}
	return recs, nil
}

// logFor returns up to limit commit-log records under prefix with sequence greater than
// after, in order, and the sequence a reader has considered up to: the last record's,
// or, when the page is short, the last sequence committed in the same snapshot. A
// prefix naming a subject reads that subject's space log (no other subject's records),
// except below meta/spacelog-from, where the global log is read (records of every
// subject, for the caller to filter). The zero prefix reads the global log.
func (e *Engine) logFor(ctx context.Context, prefix Path, after uint64, limit int) (evs []Event, next uint64, err error) {
	if limit <= 0 || limit > logPage {
		limit = logPage
	}
	next = after
	err = e.kv.View(ctx, func(kt kv.Tx) error {
		evs, next = nil, after
		from, err := readSpaceLogFrom(kt)
		if err != nil {
			return err
		}
		if prefix.Subject == "" || after < from {
			evs, err = readLog(kt, after, limit)
			if len(evs) > 0 {
				next = evs[len(evs)-1].Seq
			}
			return err
		}
		evs, err = readSpaceLog(kt, prefix.Subject, after, limit)
		if err != nil {
			return err
		}
		if len(evs) == limit {
			next = evs[len(evs)-1].Seq
			return nil
		}
		seq, err := readSeq(kt)
		next = max(seq, after)
		return err
	})
	return evs, next, err
}

// readSpaceLogFrom returns meta/spacelog-from, or 0 in a store no engine has opened yet.
func readSpaceLogFrom(kt kv.Tx) (uint64, error) {
	v, err := kt.Get([]byte(keySpaceLogFrom))
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(v) != 8:
		return 0, fmt.Errorf("%w: %s of %d bytes", ErrCorrupt, keySpaceLogFrom, len(v))
	}
	return beUint64(v), nil
}

func readSpaceLog(kt kv.Tx, subject string, after uint64, limit int) ([]Event, error) {
	if after == ^uint64(0) {
		return nil, nil
	}
	pre := spaceLogPrefix(subject)
	var evs []Event
	err := kt.Scan(kv.ScanOptions{Start: spaceLogKey(subject, after+1), End: kv.PrefixEnd(pre), Limit: limit}, func(k, v []byte) error {
		if len(k) != len(pre)+8 {
			return fmt.Errorf("%w: space log key of %d bytes", ErrCorrupt, len(k))
		}
		ev, err := decodeSpaceLog(subject, beUint64(k[len(pre):]), v)
		if err != nil {
			return err
		}
		if ev.Path.Subject != subject {
			return fmt.Errorf("%w: space log of %s holds record %d of %s", ErrCorrupt, subject, ev.Seq, ev.Path.Subject)
		}
		evs = append(evs, ev)
		return nil
	})
	return evs, err
}

func readLog(kt kv.Tx, after uint64, limit int) ([]Event, error) {
	if after == ^uint64(0) {
		return nil, nil
	}
	var evs []Event
	err := kt.Scan(kv.ScanOptions{Start: logKey(after + 1), End: kv.PrefixEnd([]byte(prefixLog)), Limit: limit}, func(k, v []byte) error {
		if len(k) != len(prefixLog)+8 {
			return fmt.Errorf("%w: log key of %d bytes", ErrCorrupt, len(k))
		}
		ev, err := decodeLog(beUint64(k[len(prefixLog):]), v)
		if err != nil {
			return err
		}
		evs = append(evs, ev)
		return nil
	})
	return evs, err
}
