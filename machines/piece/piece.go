package piece

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/internal/nodefield"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/task"
	commp "github.com/w3dag/w3dag/piece"
)

const (
	// Name is the service collection this machine runs.
	Name = "piece"

	// Statuses of piece entries (the schema's PieceStatus).
	StatusQueued     = "queued"
	StatusComputed   = "computed"
	StatusAggregated = "aggregated"
	StatusDealt      = "dealt"

	// ComputeCommand is the command of the task that computes a queued piece.
	ComputeCommand = "/piece/compute"
	// EventComputed is the transition of a queued piece whose piece CID was computed;
	// its data is {piece: &PieceCIDv2, md5?: Bytes} (md5: the CAR's 16-byte md5
	// digest, hashed in the same pass; absent in events recorded before it was).
	EventComputed = "computed"

	// IndexPrefix is the prefix of the machine's kv keys: IndexPrefix + <piece v2 CID>
	// holds the bytes of the CAR CID whose piece it is followed by the CAR's md5 digest
	// (MD5Size bytes; absent from values written before md5 was computed), written in
	// the transaction that moves the piece to computed (Content and Lookup read it;
	// GET /piece/{cid} serves it; offers take the md5 from it).
	IndexPrefix = "pieceindex/"

	// MD5Size is the size of an md5 digest in the piece index.
	MD5Size = 16
)

// Spec describes the piece collection: a service collection keyed by CAR CIDs, whose put
// value's content is the key, written only by the service.
var Spec = collection.Spec{Name: Name, Subjects: collection.Service, Key: collection.KeyCARCID,
	KeyField: "content", Writers: collection.ServiceOnly, Type: "PieceEntry", PublicRead: true}

// Aggregator is what the piece machine tells of each piece it moves to computed: Add is
// called in the same transaction, with the piece entry's path and its piece CID, and may
// write other entries through tx (the aggregate machine, machines/aggregate, implements
// it; package piece does not import it). Add may run more than once for a piece when the
// group commit retries a batch (each time in a new transaction).
type Aggregator interface {
	Add(tx *dag.Tx, p dag.Path, piece cid.Cid) error
}

// Machine is the machine of the piece collection (register Machine{…}.Collection()); it
// is also the engine's Transitioner for it (EventComputed). Aggregator, if not nil, is
// told of every piece that becomes computed, in the same transaction.
type Machine struct {
	Aggregator Aggregator
}

var (
	_ dag.Machine      = Machine{}
	_ dag.Transitioner = Machine{}
)

// Collection returns the piece collection run by the machine.
func (m Machine) Collection() dag.Collection { return dag.Collection{Spec: Spec, Machine: m} }

// Path is the piece entry of the CAR c: /<service>/piece/<c>.
func Path(service string, c cid.Cid) dag.Path {
	return dag.Path{Subject: service, Collection: Name, Key: c.String()}
}

// Queue makes sure the CAR content of size bytes has a piece: if it has no piece entry
// yet, Queue writes it queued{task} (ran: the invocation cause, the change that made the
// CAR held) and schedules its compute task in tx, and returns the task's invocation CID,
// for the caller to list in the fx of its receipt (tx.Effect). A piece still queued whose
// task has failed for good (its retries ran out, e.g. through a long blob-store outage)
// is queued again with a new task the same way, so storing the CAR again repairs it.
// Otherwise (the piece is computed, or its task is still to run) Queue returns cid.Undef
// and changes nothing.
func Queue(tx *dag.Tx, cause, content cid.Cid, size int64) (cid.Cid, error) {
	return QueueKnown(tx, cause, content, size, nil)
}

// QueueKnown is Queue for a CAR whose piece is already known (computed in the pass
// that stored its bytes, see Staged): when it schedules a compute task, the task's
// args carry known, and the task records it without reading the CAR. A nil known is
// Queue.
func QueueKnown(tx *dag.Tx, cause, content cid.Cid, size int64, known *Known) (cid.Cid, error) {
	if err := checkContent(content, size); err != nil {
		return cid.Undef, err
	}
	p := Path(tx.Service(), content)
	e, err := tx.Entry(p)
	switch {
	case err == nil:
		stuck, err := taskFailed(tx, e)
		if err != nil || !stuck {
			return cid.Undef, err
		}
	case !errors.Is(err, dag.ErrNotFound):
		return cid.Undef, fmt.Errorf("reading %s: %w", p, err)
	}
	t, err := schedule(tx, p, content, size, known)
	if err != nil {
		return cid.Undef, err
	}
	if _, err := tx.Put(p, cause, queuedState(t)); err != nil {
		return cid.Undef, fmt.Errorf("queueing %s: %w", p, err)
	}
	return t, nil
}

// taskFailed reports whether e is a queued piece whose compute task has failed for good
// (or that names no task, or a task that does not exist): it needs a new task.
func taskFailed(tx *dag.Tx, e *dag.Entry) (bool, error) {
	if e.Status != StatusQueued {
		return false, nil
	}
	tn, err := e.State.LookupByString("task")
	if err != nil {
		return true, nil // queued before the task was recorded
	}
	l, err := tn.AsLink()
	if err != nil {
		return false, fmt.Errorf("%w: %s: task is not a link", ErrCorrupt, e.Path)
	}
	cl, ok := l.(cidlink.Link)
	if !ok {
		return false, fmt.Errorf("%w: %s: task is not a CID", ErrCorrupt, e.Path)
	}
	te, err := tx.Entry(task.Path(tx.Service(), cl.Cid))
	switch {
	case errors.Is(err, dag.ErrNotFound):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("reading the task of %s: %w", e.Path, err)
	}
	return te.Status == task.StatusFailed, nil
}

// schedule schedules the compute task of the piece at p: args {content, size} and,
// when known is not nil, {piece, md5?} (the piece, computed already).
func schedule(tx *dag.Tx, p dag.Path, content cid.Cid, size int64, known *Known) (cid.Cid, error) {
	args, err := qp.BuildMap(basicnode.Prototype.Map, 4, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "content", qp.Link(cidlink.Link{Cid: content}))
		qp.MapEntry(ma, "size", qp.Int(size))
		if known != nil {
			qp.MapEntry(ma, "piece", qp.Link(cidlink.Link{Cid: known.Piece}))
			if known.MD5 != nil {
				qp.MapEntry(ma, "md5", qp.Bytes(known.MD5))
			}
		}
	})
	if err != nil {
		return cid.Undef, fmt.Errorf("scheduling the piece of %s: %w", p, err)
	}
	t, err := task.Schedule(tx, task.Task{Cmd: ComputeCommand, Args: args, Path: p})
	if err != nil {
		return cid.Undef, fmt.Errorf("scheduling the piece of %s: %w", p, err)
	}
	return t, nil
}

// checkContent checks that content is a sha2-256 CAR CID and size at least 1.
func checkContent(content cid.Cid, size int64) error {
	if _, err := carDigest(content); err != nil {
		return err
	}
	if size < 1 {
		return fmt.Errorf("%w: %d bytes for %s", ErrInvalidSize, size, content)
	}
	return nil
}

// carDigest returns the sha2-256 digest of a CAR CID.
func carDigest(c cid.Cid) ([]byte, error) {
	if !c.Defined() || c.Type() != collection.CodecCAR {
		return nil, fmt.Errorf("%w: %s", ErrNotCAR, c)
	}
	dh, err := multihash.Decode(c.Hash())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotCAR, c, err)
	}
	if dh.Code != multihash.SHA2_256 || len(dh.Digest) != 32 {
		return nil, fmt.Errorf("%w: %s is hashed with %s", ErrNotCAR, c, multihash.Codes[dh.Code])
	}
	return dh.Digest, nil
}

// Start queues the piece of a service put {content, size} and schedules its compute
// task, listed in the fx of the put's receipt.
func (Machine) Start(tx *dag.Tx, p dag.Path, in datamodel.Node, _ *dag.Entry) (datamodel.Node, error) {
	content, err := nodefield.Link(in, "content")
	if err != nil {
		return nil, dag.Failf(dag.ErrInvalidValue.Name, "value of %s: %v", p, err)
	}
	size, err := nodefield.Int(in, "size")
	if err != nil {
		return nil, dag.Failf(dag.ErrInvalidValue.Name, "value of %s: %v", p, err)
	}
	if err := checkContent(content, size); err != nil {
		return nil, dag.Failf(dag.ErrInvalidValue.Name, "value of %s: %v", p, err)
	}
	t, err := schedule(tx, p, content, size, nil)
	if err != nil {
		return nil, err
	}
	tx.Effect(t)
	return queuedState(t), nil
}

// Same leaves the entry as is.
func (Machine) Same(_ *dag.Tx, _ *dag.Entry) (datamodel.Node, bool, error) { return nil, false, nil }

// Update refuses: a CAR has one piece (EntryExists).
func (Machine) Update(_ *dag.Tx, e *dag.Entry, _ datamodel.Node) (datamodel.Node, error) {
	return nil, fmt.Errorf("%w: %s is %s; a CAR has one piece", dag.ErrEntryExists, e.Path, e.Status)
}

// Remove refuses with InvalidTransition: the schema has no removed piece.
func (Machine) Remove(_ *dag.Tx, e *dag.Entry) (datamodel.Node, error) {
	return nil, fmt.Errorf("%w: %s: pieces are not removed", dag.ErrInvalidTransition, e.Path)
}

// Transition applies EventComputed: a queued entry becomes computed{piece} (and, in the
// same transaction, joins an aggregate through the Aggregator and counts in the
// service's metrics.PieceComputedTotal); an entry already computed (or further on) is
// left as is, whatever piece the event carries.
func (m Machine) Transition(tx *dag.Tx, e *dag.Entry, event string, data datamodel.Node) (datamodel.Node, error) {
	if event != EventComputed {
		return nil, fmt.Errorf("%w: %s has no event %q", dag.ErrInvalidTransition, e.Path, event)
	}
	switch e.Status {
	case StatusQueued:
	case StatusComputed, StatusAggregated, StatusDealt:
		return nil, nil
	default:
		return nil, fmt.Errorf("%w: %s is %s", dag.ErrInvalidTransition, e.Path, e.Status)
	}
	c, err := nodefield.Link(data, "piece")
	if err != nil {
		return nil, dag.Failf(dag.ErrInvalidValue.Name, "computed %s: %v", e.Path, err)
	}
	if _, err := commp.FromCID(c); err != nil {
		return nil, dag.Failf(dag.ErrInvalidValue.Name, "computed %s: %v: %v", e.Path, ErrInvalidPiece, err)
	}
	sum, err := md5Field(data)
	if err != nil {
		return nil, dag.Failf(dag.ErrInvalidValue.Name, "computed %s: %v", e.Path, err)
	}
	if err := index(tx, c, sum, e.Path); err != nil {
		return nil, fmt.Errorf("computed %s: %w", e.Path, err)
	}
	if m.Aggregator != nil {
		if err := m.Aggregator.Add(tx, e.Path, c); err != nil {
			return nil, fmt.Errorf("computed %s: %w", e.Path, err)
		}
	}
	if err := metrics.Add(tx, tx.Service(), metrics.PieceComputedTotal, 1); err != nil {
		return nil, fmt.Errorf("computed %s: %w", e.Path, err)
	}
	return computedState(c), nil
}

// index records that pc is the piece of the CAR of the piece entry p, whose md5 digest
// is sum (nil if unknown).
func index(tx *dag.Tx, pc cid.Cid, sum []byte, p dag.Path) error {
	content, err := cid.Parse(p.Key)
	if err != nil {
		return fmt.Errorf("indexing the piece: the key is not a CID: %w", err)
	}
	kt, err := tx.KV(IndexPrefix)
	if err != nil {
		return fmt.Errorf("indexing the piece: %w", err)
	}
	if err := kt.Put(indexKey(pc), append(content.Bytes(), sum...)); err != nil {
		return fmt.Errorf("indexing the piece: %w", err)
	}
	return nil
}

func indexKey(pc cid.Cid) []byte { return []byte(IndexPrefix + pc.String()) }

// Indexed is what the piece index holds of a computed piece.
type Indexed struct {
	// Content is the CAR CID whose piece it is.
	Content cid.Cid
	// MD5 is the CAR's md5 digest (MD5Size bytes), or nil for a piece indexed before
	// md5 was computed with commP (the caller computes it from the CAR then).
	MD5 []byte
}

// Lookup returns the index entry of pc (a v2 piece CID), written when the piece was
// computed; ErrUnknownPiece (wrapped) if no computed piece is pc, ErrCorrupt if the
// stored value is neither a CID nor a CID followed by an md5 digest.
func Lookup(ctx context.Context, e *dag.Engine, pc cid.Cid) (Indexed, error) {
	var out Indexed
	err := e.View(ctx, func(tx *dag.Tx) error {
		kt, err := tx.KV(IndexPrefix)
		if err != nil {
			return err
		}
		raw, err := kt.Get(indexKey(pc))
		if errors.Is(err, kv.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrUnknownPiece, pc)
		}
		if err != nil {
			return err
		}
		out, err = decodeIndexed(raw)
		if err != nil {
			return fmt.Errorf("%w: the index of %s: %v", ErrCorrupt, pc, err)
		}
		return nil
	})
	if err != nil {
		return Indexed{}, fmt.Errorf("finding the CAR of piece %s: %w", pc, err)
	}
	return out, nil
}

// decodeIndexed decodes a piece index value: CAR CID bytes, then nothing or an md5.
func decodeIndexed(raw []byte) (Indexed, error) {
	n, c, err := cid.CidFromBytes(raw)
	if err != nil {
		return Indexed{}, fmt.Errorf("holds no CID: %v", err)
	}
	switch rest := raw[n:]; len(rest) {
	case 0:
		return Indexed{Content: c}, nil
	case MD5Size:
		return Indexed{Content: c, MD5: bytes.Clone(rest)}, nil
	default:
		return Indexed{}, fmt.Errorf("%d bytes after the CID, want 0 or %d (md5)", len(rest), MD5Size)
	}
}

// Content returns the CAR CID whose piece is pc (a v2 piece CID), from the index written
// when the piece was computed; ErrUnknownPiece (wrapped) if no computed piece is pc.
func Content(ctx context.Context, e *dag.Engine, pc cid.Cid) (cid.Cid, error) {
	ix, err := Lookup(ctx, e, pc)
	if err != nil {
		return cid.Undef, err
	}
	return ix.Content, nil
}

func queuedState(t cid.Cid) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(StatusQueued))
		qp.MapEntry(ma, "task", qp.Link(cidlink.Link{Cid: t}))
	})
	return n
}

func computedState(c cid.Cid) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(StatusComputed))
		qp.MapEntry(ma, "piece", qp.Link(cidlink.Link{Cid: c}))
	})
	return n
}

// Computed returns the piece CID of a computed (or aggregated, dealt) piece state.
func Computed(state datamodel.Node) (cid.Cid, error) {
	return nodefield.Link(state, "piece")
}

// md5Field returns the optional md5 field of a computed event's data: nil when absent,
// an error when it is not MD5Size bytes.
func md5Field(n datamodel.Node) ([]byte, error) {
	if n == nil || n.Kind() != datamodel.Kind_Map {
		return nil, nil
	}
	v, err := n.LookupByString("md5")
	if err != nil || v == nil || v.IsAbsent() {
		return nil, nil
	}
	b, err := v.AsBytes()
	if err != nil || len(b) != MD5Size {
		return nil, fmt.Errorf("md5 is not %d bytes", MD5Size)
	}
	return b, nil
}
