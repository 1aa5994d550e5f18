package aggregate

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/internal/nodefield"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/task"
	commp "github.com/w3dag/w3dag/piece"
)

const (
	// Name is the service collection this machine runs.
	Name = "aggregate"

	// Statuses of aggregate entries (the schema's AggregateStatus).
	StatusIngesting     = "ingesting"
	StatusReady         = "ready"
	StatusDealPending   = "deal_pending"
	StatusDealProcessed = "deal_processed"
	StatusFailed        = "failed"

	// DefaultMin is the default minimum payload of an aggregate, in unpadded bytes:
	// Spade's lower bound 1+127·2^27 (seed 003), just over half a 32 GiB deal.
	DefaultMin = 1 + 127<<27
	// DefaultMax is the default maximum payload, in unpadded bytes: Spade's upper bound
	// 127·2^28, the payload of a 32 GiB (2^35 padded bytes) deal.
	DefaultMax = 127 << 28

	// MaxPieces is the most members an aggregate has: the ready state lists their piece
	// CIDs (about 45 bytes each in DAG-CBOR) and a receipt carries the state, within
	// ucan.MaxTokenSize (64 KiB). An aggregate that reaches it can take no more pieces
	// and is ready even under the minimum payload.
	MaxPieces = 1024
	// MovesPerTx is the most member pieces the include task moves to aggregated in one
	// transaction (one receipt each).
	MovesPerTx = 128
	// IncludeCommand is the command of the task that moves the members of a ready
	// aggregate to aggregated.
	IncludeCommand = "/aggregate/include"
	// AddCommand is the command of the self-issued invocation behind a piece's joining an
	// aggregate (the aggregate's ingesting or ready receipt); its args are {piece, content,
	// cause}.
	AddCommand = "/aggregate/add"

	// KVPrefix is the prefix of the machine's kv keys (see the package documentation).
	KVPrefix = "aggregate/"
	// keyDigits is the width of an aggregate key, a zero-padded sequence number.
	keyDigits = 16
)

// Spec describes the aggregate collection: a service collection keyed by sequence numbers,
// written only by the service (through Machine.Add), readable by anyone.
var Spec = collection.Spec{Name: Name, Subjects: collection.Service,
	Writers: collection.ServiceOnly, Type: "AggregateEntry", PublicRead: true}

// Bounds are the payload bounds of aggregates, in unpadded bytes (the package
// documentation says what counts).
type Bounds struct {
	// Min is the payload at which an aggregate becomes ready.
	Min uint64
	// Max is the payload no aggregate exceeds.
	Max uint64
}

// DefaultBounds are Spade's (DefaultMin, DefaultMax).
var DefaultBounds = Bounds{Min: DefaultMin, Max: DefaultMax}

// unpadded is the payload (unpadded piece size) of padded bytes: padded/128·127.
func unpadded(padded uint64) uint64 { return padded / 128 * 127 }

// DealSize is the largest deal (padded bytes) the bounds allow: the smallest power of two,
// at least piece.MinDealSize, whose payload holds Max. 0 if Max is over the largest deal.
func (b Bounds) DealSize() uint64 {
	for d := uint64(commp.MinDealSize); d <= commp.MaxDealSize; d <<= 1 {
		if unpadded(d) >= b.Max {
			return d
		}
	}
	return 0
}

// Check checks that aggregates can meet the bounds (ErrBounds otherwise): 1 ≤ Min ≤ Max,
// Max at least one smallest piece (127 bytes) and at most the payload of the largest
// deal, and Min reachable by pieces in the pieces region of a deal of DealSize.
func (b Bounds) Check() error {
	if b.Min < 1 || b.Min > b.Max {
		return fmt.Errorf("%w: minimum %d, maximum %d: want 1 ≤ minimum ≤ maximum", ErrBounds, b.Min, b.Max)
	}
	if b.Max < unpadded(commp.NodeSize<<commp.MinHeight) {
		return fmt.Errorf("%w: maximum %d is under the smallest piece (%d bytes)", ErrBounds, b.Max, unpadded(commp.NodeSize<<commp.MinHeight))
	}
	d := b.DealSize()
	if d == 0 {
		return fmt.Errorf("%w: maximum %d is over the payload of the largest deal (%d bytes)", ErrBounds, b.Max, unpadded(commp.MaxDealSize))
	}
	if room := unpadded(commp.IndexStart(d)); b.Min > room {
		return fmt.Errorf("%w: minimum %d is over the %d payload bytes a %d-byte deal has for pieces besides its index", ErrBounds, b.Min, room, d)
	}
	return nil
}

// layout is what decides whether a piece fits an aggregate: where the next piece goes,
// how many members there are, and the sum of their padded sizes.
type layout struct {
	end, count, padded uint64
}

// with returns the layout with p placed after the members.
func (l layout) with(p commp.Piece) layout {
	size := p.PaddedSize()
	off := (l.end + size - 1) / size * size
	return layout{end: off + size, count: l.count + 1, padded: l.padded + size}
}

// dealSize is the smallest deal (at least piece.MinDealSize, at most limit) whose pieces
// region holds l.end and whose index has l.count entries; 0 if none.
func (l layout) dealSize(limit uint64) uint64 {
	for d := uint64(commp.MinDealSize); d <= limit && d != 0; d <<= 1 {
		if l.end <= commp.IndexStart(d) && l.count <= commp.IndexEntries(d) {
			return d
		}
	}
	return 0
}

// fits reports whether l (members with the new piece) is within the bounds, and why not.
func (b Bounds) fits(l layout) error {
	if l.count > MaxPieces {
		return fmt.Errorf("%d members, over %d", l.count, MaxPieces)
	}
	if p := unpadded(l.padded); p > b.Max {
		return fmt.Errorf("payload %d over the maximum %d", p, b.Max)
	}
	if l.dealSize(b.DealSize()) == 0 {
		return fmt.Errorf("%d members ending at %d padded bytes do not fit a %d-byte deal with its index", l.count, l.end, b.DealSize())
	}
	return nil
}

// smallest is the smallest piece there is (padded size 128, tree height 2).
var smallest = commp.Piece{Height: commp.MinHeight}

// full reports whether an aggregate of layout l is ready: payload at least Min, or no
// piece can join it any more (not even the smallest: MaxPieces members, a full index,
// no room left in the largest deal or under Max).
func (b Bounds) full(l layout) bool {
	return unpadded(l.padded) >= b.Min || b.fits(l.with(smallest)) != nil
}

// Fits returns nil if the piece p can be aggregated under b at all (alone in an
// aggregate), or why not.
func (b Bounds) Fits(p commp.Piece) error {
	return b.fits(layout{}.with(p))
}

// Machine is the machine of the aggregate collection and the piece machine's Aggregator.
type Machine struct {
	bounds Bounds
	offers bool
}

var (
	_ dag.Machine      = (*Machine)(nil)
	_ dag.Transitioner = (*Machine)(nil)
	_ piece.Aggregator = (*Machine)(nil)
)

// Option configures a Machine.
type Option func(*Machine)

// WithOffers makes the machine schedule an offer task (OfferCommand) for each aggregate
// whose members are aggregated (a broker is configured). Without it aggregates stay ready.
func WithOffers() Option { return func(m *Machine) { m.offers = true } }

// New returns the machine for bounds (checked with Bounds.Check).
func New(b Bounds, opts ...Option) (*Machine, error) {
	if err := b.Check(); err != nil {
		return nil, err
	}
	m := &Machine{bounds: b}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// Bounds returns the machine's bounds.
func (m *Machine) Bounds() Bounds { return m.bounds }

// Collection returns the aggregate collection run by m.
func (m *Machine) Collection() dag.Collection { return dag.Collection{Spec: Spec, Machine: m} }

// Path is the aggregate entry with key key: /<service>/aggregate/<key>.
func Path(service, key string) dag.Path {
	return dag.Path{Subject: service, Collection: Name, Key: key}
}

// Key is the key of the aggregate with sequence number n.
func Key(n uint64) string { return fmt.Sprintf("%0*d", keyDigits, n) }

// Start refuses: aggregates are made by the machine from computed pieces (Add), not put.
func (m *Machine) Start(_ *dag.Tx, p dag.Path, _ datamodel.Node, _ *dag.Entry) (datamodel.Node, error) {
	return nil, fmt.Errorf("%w: %s: aggregates are made from computed pieces, not put", dag.ErrInvalidTransition, p)
}

// Same leaves the entry as is.
func (m *Machine) Same(_ *dag.Tx, _ *dag.Entry) (datamodel.Node, bool, error) {
	return nil, false, nil
}

// Update refuses (see Start).
func (m *Machine) Update(_ *dag.Tx, e *dag.Entry, _ datamodel.Node) (datamodel.Node, error) {
	return nil, fmt.Errorf("%w: %s is %s: aggregates are made from computed pieces, not put", dag.ErrInvalidTransition, e.Path, e.Status)
}

// Remove refuses: the schema has no removed aggregate.
func (m *Machine) Remove(_ *dag.Tx, e *dag.Entry) (datamodel.Node, error) {
	return nil, fmt.Errorf("%w: %s: aggregates are not removed", dag.ErrInvalidTransition, e.Path)
}

// Add puts the piece pc of the piece entry p (just computed, in tx) into an aggregate, as
// the package documentation describes. The aggregate's receipt has as ran a self-issued
// AddCommand invocation {piece, content, cause: the invocation of tx}, whose result it is
// (dag.Tx.SetResult), listed in the fx of tx's operation (the piece's computed receipt).
// A piece already in an aggregate, and a piece that fits no aggregate (Bounds.Fits),
// change nothing.
func (m *Machine) Add(tx *dag.Tx, p dag.Path, pc cid.Cid) error {
	var ran cid.Cid
	if inv := tx.Invocation(); inv != nil {
		ran = inv.CID
	}
	return m.add(tx, ran, p, pc)
}

// add is Add with the receipts' ran given (the requeue task adds pieces in Engine.Update,
// whose Tx has no invocation).
func (m *Machine) add(tx *dag.Tx, ran cid.Cid, p dag.Path, pc cid.Cid) error {
	content, err := cid.Parse(p.Key)
	if err != nil || p.Collection != piece.Name {
		return fmt.Errorf("aggregate: adding %s: not a piece entry", p)
	}
	pp, err := commp.FromCID(pc)
	if err != nil {
		return fmt.Errorf("aggregate: adding %s: %w", p, err)
	}
	if m.bounds.Fits(pp) != nil {
		return nil // documented: it stays computed
	}
	kt, err := tx.KV(KVPrefix)
	if err != nil {
		return fmt.Errorf("aggregate: adding %s: %w", p, err)
	}
	pk := pieceKey(content)
	switch _, err := kt.Get(pk); {
	case err == nil:
		return nil // already a member
	case !errors.Is(err, kv.ErrNotFound):
		return fmt.Errorf("aggregate: adding %s: %w", p, err)
	}
	if !ran.Defined() {
		return fmt.Errorf("aggregate: adding %s: no invocation to record as ran", p)
	}
	key, l, err := m.choose(kt, pp)
	if err != nil {
		return fmt.Errorf("aggregate: adding %s: %w", p, err)
	}
	ap := Path(tx.Service(), key)
	var members []cid.Cid
	if l.count > 0 {
		cur, err := tx.Entry(ap)
		if err != nil {
			return fmt.Errorf("aggregate: adding %s to %s: %w", p, ap, err)
		}
		if members, err = linksField(cur.State, "pieces"); err != nil {
			return fmt.Errorf("aggregate: adding %s to %s: %w", p, ap, err)
		}
		if uint64(len(members)) != l.count {
			return fmt.Errorf("aggregate: adding %s to %s: %d pieces in the entry, %d in the index", p, ap, len(members), l.count)
		}
	}
	members = append(members, pc)
	nl := l.with(pp)
	args, err := qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "piece", qp.Link(cidlink.Link{Cid: pc}))
		qp.MapEntry(ma, "content", qp.Link(cidlink.Link{Cid: content}))
		qp.MapEntry(ma, "cause", qp.Link(cidlink.Link{Cid: ran}))
	})
	if err != nil {
		return fmt.Errorf("aggregate: adding %s to %s: %w", p, ap, err)
	}
	inv, err := tx.Invoke(AddCommand, args)
	if err != nil {
		return fmt.Errorf("aggregate: adding %s to %s: %w", p, ap, err)
	}
	// put writes the aggregate's new state as the work of inv, an effect of tx's operation.
	put := func(state datamodel.Node) error {
		_, err := tx.PutEffect(ap, inv, state)
		return err
	}
	if err := kt.Put(memberKey(key, l.count), content.Bytes()); err != nil {
		return fmt.Errorf("aggregate: adding %s to %s: %w", p, ap, err)
	}
	if err := kt.Put(pk, []byte(key)); err != nil {
		return fmt.Errorf("aggregate: adding %s to %s: %w", p, ap, err)
	}
	if !m.bounds.full(nl) {
		if err := kt.Put(openKey(key), nl.bytes()); err != nil {
			return fmt.Errorf("aggregate: adding %s to %s: %w", p, ap, err)
		}
		if err := put(ingestingState(members, nl.padded)); err != nil {
			return fmt.Errorf("aggregate: adding %s to %s: %w", p, ap, err)
		}
		return nil
	}
	// Ready: compute the aggregate's piece CID, schedule the members' move.
	if err := kt.Delete(openKey(key)); err != nil {
		return fmt.Errorf("aggregate: closing %s: %w", ap, err)
	}
	agg, err := build(members, nl.dealSize(m.bounds.DealSize()))
	if err != nil {
		return fmt.Errorf("aggregate: closing %s: %w", ap, err)
	}
	if err := put(readyState(agg.Piece().CID(), members, nl.padded)); err != nil {
		return fmt.Errorf("aggregate: closing %s: %w", ap, err)
	}
	if err := kt.Put(cidKey(agg.Piece().CID()), []byte(key)); err != nil {
		return fmt.Errorf("aggregate: closing %s: %w", ap, err)
	}
	if err := countReady(tx, members); err != nil {
		return fmt.Errorf("aggregate: closing %s: %w", ap, err)
	}
	t, err := task.Schedule(tx, task.Task{Cmd: IncludeCommand, Path: ap})
	if err != nil {
		return fmt.Errorf("aggregate: closing %s: %w", ap, err)
	}
	tx.Effect(t)
	return nil
}

// countReady adds an aggregate of the members that became ready to the service's
// metrics: 1 to AggregateReadyTotal, their payload bytes (the CARs' sizes) to
// AggregateReadySizeTotal.
func countReady(tx *dag.Tx, members []cid.Cid) error {
	var size int64
	for i, c := range members {
		p, err := commp.FromCID(c)
		if err != nil {
			return fmt.Errorf("member %d: %w", i, err)
		}
		size += int64(p.Size)
	}
	if err := metrics.Add(tx, tx.Service(), metrics.AggregateReadyTotal, 1); err != nil {
		return err
	}
	return metrics.Add(tx, tx.Service(), metrics.AggregateReadySizeTotal, size)
}

// choose returns the aggregate pp goes into: the oldest ingesting one it fits, or a new
// one (layout zero).
func (m *Machine) choose(kt kv.Tx, pp commp.Piece) (string, layout, error) {
	start := []byte(KVPrefix + "open/")
	var (
		key   string
		found layout
		bad   error
	)
	err := kt.Scan(kv.ScanOptions{Start: start, End: prefixEnd(start)}, func(k, v []byte) error {
		l, err := parseLayout(v)
		if err != nil {
			bad = fmt.Errorf("open aggregate %s: %w", k[len(start):], err)
			return kv.ErrStop
		}
		if m.bounds.fits(l.with(pp)) == nil {
			key, found = string(k[len(start):]), l
			return kv.ErrStop
		}
		return nil
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return "", layout{}, err
	}
	if key != "" {
		return key, found, nil
	}
	n, err := next(kt)
	if err != nil {
		return "", layout{}, err
	}
	return Key(n), layout{}, nil
}

// next takes the next aggregate sequence number.
func next(kt kv.Tx) (uint64, error) {
	k := []byte(KVPrefix + "seq")
	var n uint64
	switch v, err := kt.Get(k); {
	case err == nil && len(v) == 8:
		n = binary.BigEndian.Uint64(v)
	case err == nil:
		return 0, fmt.Errorf("sequence of %d bytes", len(v))
	case !errors.Is(err, kv.ErrNotFound):
		return 0, fmt.Errorf("reading the sequence: %w", err)
	}
	n++
	if err := kt.Put(k, binary.BigEndian.AppendUint64(nil, n)); err != nil {
		return 0, fmt.Errorf("writing the sequence: %w", err)
	}
	return n, nil
}

// build makes the FRC-0058 aggregate of the member piece CIDs in a deal of dealSize.
func build(members []cid.Cid, dealSize uint64) (*commp.Aggregate, error) {
	if dealSize == 0 {
		return nil, fmt.Errorf("the members fit no deal")
	}
	ps := make([]commp.Piece, len(members))
	for i, c := range members {
		p, err := commp.FromCID(c)
		if err != nil {
			return nil, fmt.Errorf("member %d: %w", i, err)
		}
		ps[i] = p
	}
	return commp.NewAggregate(dealSize, ps)
}

func pieceKey(content cid.Cid) []byte { return []byte(KVPrefix + "piece/" + content.String()) }

func cidKey(agg cid.Cid) []byte { return []byte(KVPrefix + "cid/" + agg.String()) }

func openKey(key string) []byte { return []byte(KVPrefix + "open/" + key) }

func memberKey(key string, i uint64) []byte {
	return binary.BigEndian.AppendUint32([]byte(KVPrefix+"member/"+key+"/"), uint32(i))
}

// prefixEnd is the first key after every key starting with p (p's last byte is '/').
func prefixEnd(p []byte) []byte {
	e := append([]byte(nil), p...)
	e[len(e)-1]++
	return e
}

func (l layout) bytes() []byte {
	b := binary.BigEndian.AppendUint64(nil, l.end)
	b = binary.BigEndian.AppendUint64(b, l.count)
	return binary.BigEndian.AppendUint64(b, l.padded)
}

func parseLayout(b []byte) (layout, error) {
	if len(b) != 24 {
		return layout{}, fmt.Errorf("layout of %d bytes", len(b))
	}
	return layout{end: binary.BigEndian.Uint64(b), count: binary.BigEndian.Uint64(b[8:]), padded: binary.BigEndian.Uint64(b[16:])}, nil
}

func ingestingState(members []cid.Cid, padded uint64) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(StatusIngesting))
		qp.MapEntry(ma, "pieces", linkList(members))
		qp.MapEntry(ma, "size", qp.Int(int64(padded)))
	})
	return n
}

func readyState(agg cid.Cid, members []cid.Cid, padded uint64) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 4, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(StatusReady))
		qp.MapEntry(ma, "aggregate", qp.Link(cidlink.Link{Cid: agg}))
		qp.MapEntry(ma, "pieces", linkList(members))
		qp.MapEntry(ma, "size", qp.Int(int64(padded)))
	})
	return n
}

func linkList(cs []cid.Cid) qp.Assemble {
	return qp.List(int64(len(cs)), func(la datamodel.ListAssembler) {
		for _, c := range cs {
			qp.ListEntry(la, qp.Link(cidlink.Link{Cid: c}))
		}
	})
}

// Members returns the member piece CIDs of an aggregate state, in order.
func Members(state datamodel.Node) ([]cid.Cid, error) { return linksField(state, "pieces") }

// PieceCID returns the aggregate piece CID of a ready (or later) aggregate state.
func PieceCID(state datamodel.Node) (cid.Cid, error) { return nodefield.Link(state, "aggregate") }

func asCID(v datamodel.Node) (cid.Cid, bool) {
	l, err := v.AsLink()
	if err != nil {
		return cid.Undef, false
	}
	cl, ok := l.(cidlink.Link)
	return cl.Cid, ok && cl.Cid.Defined()
}

func linksField(n datamodel.Node, name string) ([]cid.Cid, error) {
	v, err := nodefield.Get(n, name)
	if err != nil {
		return nil, err
	}
	if v.Kind() != datamodel.Kind_List {
		return nil, fmt.Errorf("%s is not a list", name)
	}
	out := make([]cid.Cid, 0, v.Length())
	for it := v.ListIterator(); !it.Done(); {
		_, x, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		c, ok := asCID(x)
		if !ok {
			return nil, fmt.Errorf("%s has an element that is not a CID", name)
		}
		out = append(out, c)
	}
	return out, nil
}
