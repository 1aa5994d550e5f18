package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/blockindex"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/machines/usage"
)

const (
	// Name is the space collection this machine runs.
	Name = "store"
	// MaxBlobSize is the largest CAR a put accepts when Options.MaxBlobSize is zero, in
	// bytes (4 GiB, DESIGN §9).
	MaxBlobSize = 4 << 30
	// DefaultUploadURLTTL is how long an upload URL stays valid, and an entry pending,
	// when Options.UploadURLTTL is zero (DESIGN §9: 1 h).
	DefaultUploadURLTTL = time.Hour

	// Statuses of store entries (the schema's StoreStatus).
	StatusQueued  = "queued"
	StatusPending = "pending"
	StatusDone    = dag.StatusDone
	StatusExpired = dag.StatusExpired
	StatusFailed  = dag.StatusFailed
	StatusRemoved = dag.StatusRemoved

	// ExpireCommand is the command of the expiry task scheduled for a pending entry.
	ExpireCommand = "/store/expire"
	// DeliverCommand is the command of the self-issued invocation that moves a pending
	// entry to done when its bytes were uploaded.
	DeliverCommand = "/store/deliver"
	// EventDelivered is the transition of a pending entry whose bytes arrived; its data is
	// {size} (the verified size of the bytes).
	EventDelivered = "delivered"
	// EventExpire is the transition of a pending entry at its deadline; its data is
	// {expires} (the deadline the task was scheduled for, unix ms).
	EventExpire = "expire"
	// RejectCommand is the command of the self-issued invocation that ends a pending
	// entry failed when its uploaded bytes are not a CAR.
	RejectCommand = "/store/reject"
	// EventRejected is the transition of a pending entry whose bytes are not a
	// well-formed CAR; its data is {reason}.
	EventRejected = "rejected"
	// MaxReasonLength is the most bytes of why bytes are not a CAR kept in a rejected
	// entry's failed{reason} (dag.StateText: valid UTF-8, cut at a character boundary).
	MaxReasonLength = 1024
	// BuildCommand is the command of the task that indexes the blocks of a CAR that
	// became done with no scan staged; its args are {content: CAR CID}.
	BuildCommand = "/blockindex/build"

	// PendingPrefix keys the pending index: storepending/<cid>/<space> → size BE8,
	// deadline (unix ms) BE8.
	PendingPrefix = "storepending/"
)

// Options configure a Machine.
type Options struct {
	// Blobs holds the CAR bytes at carwhere.BlobKey. Required. It must implement
	// blob.Presigner to hand out upload URLs; if it has CheckUpload (blob/s3), arrival is
	// checked with it (size and SHA-256), otherwise with Stat (size; the fs upload
	// endpoint verified the digest while storing).
	Blobs blob.Store
	// Locator gives the location recorded in carwhere for bytes verified at their blob
	// key (carwhere.FSLocator, carwhere.S3Locator). Required.
	Locator carwhere.Locator
	// MaxBlobSize is the largest size a put accepts; zero means MaxBlobSize.
	MaxBlobSize int64
	// UploadURLTTL is how long upload URLs are valid; zero means DefaultUploadURLTTL.
	UploadURLTTL time.Duration
	// Clock tells the time upload URLs are presigned at and expiry tasks compare with;
	// nil means time.Now. Give it the engine's clock.
	Clock func() time.Time
	// Logger receives problems that do not fail an operation; nil discards.
	Logger *slog.Logger
	// Index is the block index written when an entry becomes done (blockindex.Index.Done)
	// and dropped with the last done entry of a CAR; a CAR with nothing staged is indexed
	// by a BuildCommand task. Nil keeps no block index.
	Index *blockindex.Index
	// Pieces holds the pieces computed while CARs were uploaded (Blobs with the same
	// Pieces): a delivery (EventDelivered) that queues a CAR's piece puts its staged piece
	// in the compute task (piece.QueueKnown), which then records it without reading the CAR.
	// Nil (or a CAR with nothing staged) leaves the task to read the CAR back.
	Pieces *piece.Staged
}

// checker is what blob/s3 offers to verify a presigned upload.
type checker interface {
	CheckUpload(ctx context.Context, key string, size int64, sum []byte) error
}

// Machine is the machine of the store collection (register m.Collection()); it is also
// the engine's Preparer and Transitioner for it. Use New.
type Machine struct {
	o       Options
	presign blob.Presigner
}

// Spec describes the store collection: a space collection keyed by CAR CIDs, whose put
// value's link is the key.
var Spec = collection.Spec{Name: Name, Subjects: collection.Space, Key: collection.KeyCARCID, KeyField: "link", Type: "StoreEntry"}

// Collection returns the store collection run by m.
func (m *Machine) Collection() dag.Collection { return dag.Collection{Spec: Spec, Machine: m} }

var (
	_ dag.Machine      = (*Machine)(nil)
	_ dag.Preparer     = (*Machine)(nil)
	_ dag.Transitioner = (*Machine)(nil)
)

// New returns the store machine.
func New(opts Options) (*Machine, error) {
	if opts.Blobs == nil || opts.Locator == nil {
		return nil, fmt.Errorf("%w: Blobs and Locator are required", ErrConfig)
	}
	p, ok := opts.Blobs.(blob.Presigner)
	if !ok {
		return nil, fmt.Errorf("%w: the blob store %T cannot presign upload URLs", ErrConfig, opts.Blobs)
	}
	if opts.MaxBlobSize <= 0 {
		opts.MaxBlobSize = MaxBlobSize
	}
	if opts.UploadURLTTL <= 0 {
		opts.UploadURLTTL = DefaultUploadURLTTL
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Machine{o: opts, presign: p}, nil
}

// input is a parsed StoreInput.
type input struct {
	link   cid.Cid
	size   int64
	digest []byte
}

// prepared is what Prepare found out before the transaction.
type prepared struct {
	in input
	// arrived: the bytes are at the blob key, verified.
	arrived bool
	// req is the presigned upload (when the bytes have not arrived).
	req        blob.Request
	presignErr error
	// scan is the CAR check of bytes that arrived at an S3-like key (Options.Index set);
	// notCAR, when not empty, is why they are not a CAR.
	scan   *carscan.Result
	notCAR string
}

// Digest returns the sha2-256 digest of a sha2-256 CAR CID, or an error wrapping
// ErrUnsupportedCID.
func Digest(c cid.Cid) ([]byte, error) {
	if c.Type() != collection.CodecCAR {
		return nil, fmt.Errorf("%w: %s has codec 0x%x, want CAR 0x%x", ErrUnsupportedCID, c, c.Type(), collection.CodecCAR)
	}
	dh, err := multihash.Decode(c.Hash())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnsupportedCID, c, err)
	}
	if dh.Code != multihash.SHA2_256 || len(dh.Digest) != 32 {
		return nil, fmt.Errorf("%w: %s is hashed with %s, want sha2-256", ErrUnsupportedCID, c, multihash.Codes[dh.Code])
	}
	return dh.Digest, nil
}

func (m *Machine) parseInput(p dag.Path, in datamodel.Node) (input, error) {
	var out input
	ln, err := in.LookupByString("link")
	if err != nil {
		return out, dag.Failf(dag.ErrInvalidValue.Name, "value of %s has no link", p)
	}
	l, err := ln.AsLink()
	if err != nil {
		return out, dag.Failf(dag.ErrInvalidValue.Name, "link of %s is not a link", p)
	}
	cl, ok := l.(cidlink.Link)
	if !ok {
		return out, dag.Failf(dag.ErrInvalidValue.Name, "link of %s is not a CID", p)
	}
	out.link = cl.Cid
	if out.digest, err = Digest(out.link); err != nil {
		return out, dag.Failf(dag.ErrInvalidValue.Name, "link of %s: %v", p, err)
	}
	sn, err := in.LookupByString("size")
	if err != nil {
		return out, dag.Failf(dag.ErrInvalidValue.Name, "value of %s has no size", p)
	}
	if out.size, err = sn.AsInt(); err != nil {
		return out, dag.Failf(dag.ErrInvalidValue.Name, "size of %s is not an integer", p)
	}
	if out.size < 1 {
		return out, dag.Failf(dag.ErrInvalidValue.Name, "size of %s is %d; a CAR has at least 1 byte", p, out.size)
	}
	if out.size > m.o.MaxBlobSize {
		return out, dag.Failf(NameTooLarge, "%s is %d bytes, more than the limit of %d", p, out.size, m.o.MaxBlobSize)
	}
	return out, nil
}

// Prepare checks the put's value, whether the bytes are already at the blob key and
// presigns an upload URL, before the transaction (this is I/O: a Stat or HEAD).
func (m *Machine) Prepare(ctx context.Context, p dag.Path, v datamodel.Node) (any, error) {
	in, err := m.parseInput(p, v)
	if err != nil {
		return nil, err
	}
	pr := &prepared{in: in}
	if pr.arrived, err = m.arrived(ctx, in); err != nil {
		return nil, err
	}
	if _, s3like := m.o.Blobs.(checker); pr.arrived && s3like && m.o.Index != nil {
		// Nobody checked these bytes on their way in: scan them now (the confirming put).
		if pr.scan, pr.notCAR, err = m.scanHeld(ctx, in.link); err != nil {
			return nil, err
		}
	}
	if !pr.arrived {
		expires := m.o.Clock().Add(m.o.UploadURLTTL).Truncate(time.Second)
		pr.req, pr.presignErr = m.presign.PresignPut(ctx, carwhere.BlobKey(in.link), in.size, in.digest, expires)
	}
	return pr, nil
}

// scanHeld reads the bytes of link at its blob key and checks they are a CAR: the scan,
// or the reason they are not one.
func (m *Machine) scanHeld(ctx context.Context, link cid.Cid) (*carscan.Result, string, error) {
	rc, _, err := m.o.Blobs.Get(ctx, carwhere.BlobKey(link), nil)
	if err != nil {
		return nil, "", fmt.Errorf("reading %s to check it: %w", link, err)
	}
	defer rc.Close()
	res, err := carscan.Scan(rc)
	switch {
	case carscan.Invalid(err):
		return nil, err.Error(), nil
	case err != nil:
		return nil, "", fmt.Errorf("reading %s to check it: %w", link, err)
	}
	return res, "", nil
}

// arrived reports whether the bytes of in are stored at their key, verified.
func (m *Machine) arrived(ctx context.Context, in input) (bool, error) {
	key := carwhere.BlobKey(in.link)
	if c, ok := m.o.Blobs.(checker); ok {
		err := c.CheckUpload(ctx, key, in.size, in.digest)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, blob.ErrNotFound):
			return false, nil
		case errors.Is(err, blob.ErrSizeMismatch), errors.Is(err, blob.ErrDigestMismatch):
			m.o.Logger.WarnContext(ctx, "store: bytes at the blob key do not match the put", "key", key, "error", err)
			return false, nil
		}
		return false, fmt.Errorf("checking %s: %w", key, err)
	}
	info, err := m.o.Blobs.Stat(ctx, key)
	switch {
	case errors.Is(err, blob.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("checking %s: %w", key, err)
	}
	return info.Size == in.size, nil
}

func (m *Machine) prepared(tx *dag.Tx, p dag.Path) (*prepared, error) {
	pr, ok := tx.Prepared().(*prepared)
	if !ok || pr == nil {
		return nil, fmt.Errorf("store: %s: the put was not prepared", p)
	}
	return pr, nil
}

// Start begins a new entry: done when the bytes are held, pending otherwise.
func (m *Machine) Start(tx *dag.Tx, p dag.Path, _ datamodel.Node, _ *dag.Entry) (datamodel.Node, error) {
	pr, err := m.prepared(tx, p)
	if err != nil {
		return nil, err
	}
	loc, err := carwhere.Get(tx, pr.in.link)
	switch {
	case err == nil:
		if loc.Size != pr.in.size {
			return nil, dag.Failf(dag.ErrInvalidValue.Name, "%s: the CAR is held with %d bytes, the value says %d", p, loc.Size, pr.in.size)
		}
		return m.done(tx, p, pr.in.link, pr.in.size, pr.arrived, false)
	case !errors.Is(err, dag.ErrNotFound):
		return nil, err
	}
	if pr.arrived && pr.notCAR != "" {
		return m.fail(tx, p, pr.in.link, pr.notCAR)
	}
	if pr.arrived {
		return m.done(tx, p, pr.in.link, pr.in.size, true, false)
	}
	return m.pending(tx, p, pr)
}

// pending returns the pending state with the presigned upload, indexes the entry and
// schedules its expiry, an effect of the pending receipt.
func (m *Machine) pending(tx *dag.Tx, p dag.Path, pr *prepared) (datamodel.Node, error) {
	if pr.presignErr != nil {
		return nil, fmt.Errorf("presigning the upload of %s: %w", p, pr.presignErr)
	}
	expires := pr.req.Expires.UnixMilli()
	kt, err := tx.KV(PendingPrefix)
	if err != nil {
		return nil, fmt.Errorf("indexing pending %s: %w", p, err)
	}
	if err := kt.Put(pendingKey(pr.in.link, p.Subject), pendingValue(pr.in.size, expires)); err != nil {
		return nil, fmt.Errorf("indexing pending %s: %w", p, err)
	}
	args, err := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "expires", qp.Int(expires))
	})
	if err != nil {
		return nil, err
	}
	t, err := task.Schedule(tx, task.Task{Cmd: ExpireCommand, Args: args, RunAt: pr.req.Expires, Path: p})
	if err != nil {
		return nil, fmt.Errorf("scheduling the expiry of %s: %w", p, err)
	}
	tx.Effect(t)
	return pendingState(pr.req)
}

// done records the effects of reaching done (carwhere, usage, the piece and its compute
// task, the block index, metrics) and returns the done state. The fx of the done receipt
// list, in this order, the carwhere update's invocation (when the CAR's locations
// changed), the usage record's, the piece's compute task (when this done scheduled it)
// and the block-index build task (when one was scheduled). verified says the bytes were
// verified at this backend's blob key, so its location is recorded. delivered says this
// is a delivery (EventDelivered), the only done that takes a piece staged by the upload
// endpoint (Options.Pieces): a client's put gives the same task args wherever it runs,
// whatever this process has staged; a replayed delivery finds staged the piece its
// original task carried (w3dag replay stages it from the done receipt's fx), so it too
// gives the same args.
func (m *Machine) done(tx *dag.Tx, p dag.Path, link cid.Cid, size int64, verified, delivered bool) (datamodel.Node, error) {
	cause := tx.Invocation().CID
	var locs []carwhere.Location
	if verified {
		locs = append(locs, m.o.Locator(link))
	}
	if _, err := carwhere.Record(tx, cause, link, size, locs...); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if _, err := usage.Record(tx, p.Subject, link, size, cause); err != nil {
		return nil, fmt.Errorf("%s: recording usage: %w", p, err)
	}
	// The CAR's piece: queued with its compute task the first time any space holds it.
	var known *piece.Known
	if delivered {
		if k, ok := m.o.Pieces.Lookup(link); ok {
			known = &k
		}
	}
	pt, err := piece.QueueKnown(tx, cause, link, size, known)
	if err != nil {
		return nil, fmt.Errorf("%s: queueing the piece: %w", p, err)
	}
	tx.Effect(pt)
	if m.o.Index != nil {
		if pr, ok := tx.Prepared().(*prepared); ok && pr != nil && pr.scan != nil {
			m.o.Index.Stage(link, pr.scan)
		}
		indexed, err := m.o.Index.Done(tx, link)
		if err != nil {
			return nil, fmt.Errorf("%s: indexing blocks: %w", p, err)
		}
		if !indexed {
			if err := m.scheduleBuild(tx, link); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
		}
	}
	if err := count(tx, p.Subject, metrics.StoreAddTotal, metrics.StoreAddSizeTotal, size); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if err := unindex(tx, link, p.Subject); err != nil {
		return nil, fmt.Errorf("unindexing %s: %w", p, err)
	}
	return statusState(StatusDone), nil
}

// count adds 1 to the counter total and size to sizeName, for the space and the service.
func count(tx *dag.Tx, space, total, sizeName string, size int64) error {
	for _, sub := range []string{space, tx.Service()} {
		if err := metrics.Add(tx, sub, total, 1); err != nil {
			return fmt.Errorf("counting %s: %w", total, err)
		}
		if err := metrics.Add(tx, sub, sizeName, size); err != nil {
			return fmt.Errorf("counting %s: %w", sizeName, err)
		}
	}
	return nil
}

// Same advances a pending entry whose bytes arrived (done), or whose deadline passed
// (expired); other entries are left as they are.
func (m *Machine) Same(tx *dag.Tx, e *dag.Entry) (datamodel.Node, bool, error) {
	if e.Status != StatusPending && e.Status != StatusQueued {
		return nil, false, nil
	}
	pr, err := m.prepared(tx, e.Path)
	if err != nil {
		return nil, false, err
	}
	loc, err := carwhere.Get(tx, pr.in.link)
	switch {
	case err == nil:
		if loc.Size != pr.in.size {
			st, err := m.fail(tx, e.Path, pr.in.link, fmt.Sprintf("the CAR's bytes are %d bytes long, the entry says %d", loc.Size, pr.in.size))
			return st, err == nil, err
		}
		st, err := m.done(tx, e.Path, pr.in.link, pr.in.size, pr.arrived, false)
		return st, err == nil, err
	case !errors.Is(err, dag.ErrNotFound):
		return nil, false, err
	}
	if pr.arrived && pr.notCAR != "" {
		st, err := m.fail(tx, e.Path, pr.in.link, pr.notCAR)
		return st, err == nil, err
	}
	if pr.arrived {
		st, err := m.done(tx, e.Path, pr.in.link, pr.in.size, true, false)
		return st, err == nil, err
	}
	if exp, ok := expiresOf(e.State); ok && !tx.Now().Before(time.UnixMilli(exp)) {
		st, err := m.expire(tx, e.Path, pr.in.link)
		return st, err == nil, err
	}
	return nil, false, nil
}

// Update refuses a different value on a live entry: remove it first.
func (m *Machine) Update(_ *dag.Tx, e *dag.Entry, _ datamodel.Node) (datamodel.Node, error) {
	return nil, fmt.Errorf("%w: %s is %s with another value; remove it first", dag.ErrEntryExists, e.Path, e.Status)
}

// Remove moves a live entry to removed: a done entry's bytes stop counting (usage −size,
// remove counters); a pending entry leaves the pending index.
func (m *Machine) Remove(tx *dag.Tx, e *dag.Entry) (datamodel.Node, error) {
	link, err := cid.Decode(e.Path.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: key of %s: %w", ErrCorrupt, e.Path, err)
	}
	if err := unindex(tx, link, e.Path.Subject); err != nil {
		return nil, fmt.Errorf("unindexing %s: %w", e.Path, err)
	}
	if e.Status == StatusDone {
		loc, err := carwhere.Get(tx, link)
		if err != nil {
			return nil, fmt.Errorf("%s is done but its CAR is not located: %w", e.Path, err)
		}
		if _, err := usage.Record(tx, e.Path.Subject, link, -loc.Size, tx.Invocation().CID); err != nil {
			return nil, fmt.Errorf("%s: recording usage: %w", e.Path, err)
		}
		if err := count(tx, e.Path.Subject, metrics.StoreRemoveTotal, metrics.StoreRemoveSizeTotal, loc.Size); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Path, err)
		}
		if m.o.Index != nil {
			if err := blockindex.Removed(tx, link); err != nil {
				return nil, fmt.Errorf("%s: unindexing blocks: %w", e.Path, err)
			}
		}
	}
	return dag.RemovedState(), nil
}

// Transition applies EventDelivered (the bytes were uploaded and verified) and
// EventExpire (the expiry task ran).
func (m *Machine) Transition(tx *dag.Tx, e *dag.Entry, event string, data datamodel.Node) (datamodel.Node, error) {
	link, err := cid.Decode(e.Path.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: key of %s: %w", ErrCorrupt, e.Path, err)
	}
	switch event {
	case EventDelivered:
		switch e.Status {
		case StatusDone:
			return nil, nil
		case StatusPending, StatusQueued:
		default:
			return nil, fmt.Errorf("%w: %s is %s, only pending entries are delivered", dag.ErrInvalidTransition, e.Path, e.Status)
		}
		size, err := intArg(data, "size")
		if err != nil {
			return nil, dag.Failf(dag.ErrInvalidValue.Name, "delivery of %s: %v", e.Path, err)
		}
		want, _, ok, err := pendingOf(tx, link, e.Path.Subject)
		if err != nil {
			return nil, err
		}
		if ok && want != size {
			return m.fail(tx, e.Path, link, fmt.Sprintf("the CAR's bytes are %d bytes long, the entry says %d", size, want))
		}
		return m.done(tx, e.Path, link, size, true, true)
	case EventRejected:
		if e.Status != StatusPending && e.Status != StatusQueued {
			return nil, fmt.Errorf("%w: %s is %s, only pending entries are rejected", dag.ErrInvalidTransition, e.Path, e.Status)
		}
		rn, err := data.LookupByString("reason")
		if err != nil {
			return nil, dag.Failf(dag.ErrInvalidValue.Name, "rejection of %s without a reason", e.Path)
		}
		reason, err := rn.AsString()
		if err != nil {
			return nil, dag.Failf(dag.ErrInvalidValue.Name, "rejection of %s: reason is not a string", e.Path)
		}
		return m.fail(tx, e.Path, link, reason)
	case EventExpire:
		if e.Status != StatusPending && e.Status != StatusQueued {
			return nil, nil
		}
		exp, ok := expiresOf(e.State)
		if !ok {
			return nil, fmt.Errorf("%w: %s is pending without expires", ErrCorrupt, e.Path)
		}
		if want, err := intArg(data, "expires"); err == nil && want != exp {
			return nil, nil // a task of an earlier life of the entry
		}
		if tx.Now().Before(time.UnixMilli(exp)) {
			return nil, nil
		}
		return m.expire(tx, e.Path, link)
	}
	return nil, fmt.Errorf("%w: %s has no event %q", dag.ErrInvalidTransition, e.Path, event)
}

// expire drops the entry from the pending index and returns the expired state.
func (m *Machine) expire(tx *dag.Tx, p dag.Path, link cid.Cid) (datamodel.Node, error) {
	if err := unindex(tx, link, p.Subject); err != nil {
		return nil, fmt.Errorf("unindexing %s: %w", p, err)
	}
	return statusState(StatusExpired), nil
}

// fail drops the entry from the pending index and returns failed{reason}.
func (m *Machine) fail(tx *dag.Tx, p dag.Path, link cid.Cid, reason string) (datamodel.Node, error) {
	if err := unindex(tx, link, p.Subject); err != nil {
		return nil, fmt.Errorf("unindexing %s: %w", p, err)
	}
	return qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(StatusFailed))
		qp.MapEntry(ma, "reason", qp.String(reason))
	})
}

func statusState(status string) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(status))
	})
	return n
}

func pendingState(req blob.Request) (datamodel.Node, error) {
	return qp.BuildMap(basicnode.Prototype.Map, 4, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(StatusPending))
		qp.MapEntry(ma, "url", qp.String(req.URL))
		qp.MapEntry(ma, "headers", qp.Map(int64(len(req.Headers)), func(ha datamodel.MapAssembler) {
			for _, k := range sortedKeys(req.Headers) {
				qp.MapEntry(ha, k, qp.String(req.Headers[k]))
			}
		}))
		qp.MapEntry(ma, "expires", qp.Int(req.Expires.UnixMilli()))
	})
}

func expiresOf(state datamodel.Node) (int64, bool) {
	v, err := intArg(state, "expires")
	return v, err == nil
}

func intArg(n datamodel.Node, name string) (int64, error) {
	if n == nil || n.Kind() != datamodel.Kind_Map {
		return 0, fmt.Errorf("no %s", name)
	}
	v, err := n.LookupByString(name)
	if err != nil {
		return 0, fmt.Errorf("no %s", name)
	}
	i, err := v.AsInt()
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer", name)
	}
	return i, nil
}

func pendingKey(link cid.Cid, space string) []byte {
	return []byte(PendingPrefix + link.String() + "/" + space)
}

func pendingValue(size, expires int64) []byte {
	v := binary.BigEndian.AppendUint64(nil, uint64(size))
	return binary.BigEndian.AppendUint64(v, uint64(expires))
}

// unindex drops the pending index entry of link in space.
func unindex(tx *dag.Tx, link cid.Cid, space string) error {
	kt, err := tx.KV(PendingPrefix)
	if err != nil {
		return err
	}
	return kt.Delete(pendingKey(link, space))
}

// pendingOf reads the pending index entry of link in space.
func pendingOf(tx *dag.Tx, link cid.Cid, space string) (size, expires int64, ok bool, err error) {
	kt, err := tx.KV(PendingPrefix)
	if err != nil {
		return 0, 0, false, err
	}
	v, err := kt.Get(pendingKey(link, space))
	if err != nil {
		if errors.Is(err, kvNotFound) {
			return 0, 0, false, nil
		}
		return 0, 0, false, fmt.Errorf("reading the pending index: %w", err)
	}
	if len(v) != 16 {
		return 0, 0, false, fmt.Errorf("%w: pending index value of %d bytes", ErrCorrupt, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:])), true, nil
}

// pendingSpaces lists the spaces with a pending entry of link.
func pendingSpaces(tx *dag.Tx, link cid.Cid) ([]string, error) {
	prefix := []byte(PendingPrefix + link.String() + "/")
	kt, err := tx.KV(PendingPrefix)
	if err != nil {
		return nil, err
	}
	var spaces []string
	err = kt.Scan(scanPrefix(prefix), func(k, _ []byte) error {
		spaces = append(spaces, string(bytes.TrimPrefix(k, prefix)))
		return nil
	})
	return spaces, err
}
