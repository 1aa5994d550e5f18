package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/blockindex"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/ucan"
)

const (
	// DeliverTimeout bounds the delivery of uploaded bytes to one batch of DeliverBatch
	// pending entries (it goes on when the uploading client disconnects after the bytes
	// were stored), so the time a delivery may take grows with the entries waiting.
	DeliverTimeout = 30 * time.Second
	// DeliverBatch is how many pending entries of one CID are delivered at once: their
	// transitions are submitted together and the engine group-commits them (up to its
	// MaxBatch, 512 by default, a transaction), instead of one transaction after another.
	DeliverBatch = 512
)

// Verifier checks presigned upload requests; *blob/fs.Store implements it.
type Verifier interface {
	VerifyPresigned(key string, query url.Values, contentLength int64, now time.Time) (blob.PutOptions, error)
}

// BlobsOptions configure Blobs.
type BlobsOptions struct {
	// Clock tells the time upload URLs are checked against; nil means time.Now.
	Clock func() time.Time
	// Logger receives deliveries that failed after the bytes were stored; nil discards.
	Logger *slog.Logger
	// Index, when set, makes Upload store only well-formed CARs: the bytes are scanned
	// (carscan) in the pass that stores and hashes them, and their blocks are staged in
	// Index for the done transition. Bytes that are the CID's but not a CAR are not
	// stored; every pending entry of the CID ends failed{reason}. Nil stores any bytes.
	Index *blockindex.Index
	// Pieces, when set, makes Upload compute the piece (commP, and the md5 if Pieces
	// hashes it) of the bytes in the pass that stores them, beside the other hashes, and
	// stage it there for the done transition (give the store machine the same Pieces), so
	// the piece's compute task does not read the CAR back. Nil computes nothing here.
	Pieces *piece.Staged
	// InFlight, when set, counts the uploads being received, for background work that
	// waits for them (InFlight.Wait). Nil counts nothing.
	InFlight *InFlight
}

// YieldMax is the longest InFlight.Wait waits: background work (the piece machine's
// compute tasks) gives the cores to uploads for at most this long, then runs anyway, so
// a service that receives uploads without a pause still computes its pieces.
const YieldMax = 10 * time.Second

// InFlight counts the uploads Blobs is receiving. The zero value is ready to use.
type InFlight struct {
	mu sync.Mutex
	n  int
	// idle, made by the first Wait while uploads are in flight, is closed when the
	// count drops to zero: it wakes every waiter at once.
	idle chan struct{}
}

// add counts an upload that starts (+1) or ends (-1).
func (f *InFlight) add(d int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n += d
	if f.n == 0 && f.idle != nil {
		close(f.idle)
		f.idle = nil
	}
}

// count is how many uploads are in flight.
func (f *InFlight) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// Wait returns once no upload is being received, after YieldMax, or when ctx is done.
func (f *InFlight) Wait(ctx context.Context) {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return
	}
	if f.idle == nil {
		f.idle = make(chan struct{})
	}
	idle := f.idle
	f.mu.Unlock()
	t := time.NewTimer(YieldMax)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	case <-ctx.Done():
	}
}

// Blobs serves PUT and GET /blob/{cid}: uploads to the URLs the machine presigned with
// the fs backend, and reads of stored CARs (any backend). It implements the server's
// Blobs interface.
type Blobs struct {
	e     *dag.Engine
	store blob.Store
	v     Verifier
	o     BlobsOptions
}

// NewBlobs returns Blobs over the engine e and the blob store. Uploads need the store to
// verify presigned requests (Verifier, the fs backend); with a store that cannot (S3,
// whose clients upload to the bucket directly), Upload fails with blob.ErrNoPresign.
func NewBlobs(e *dag.Engine, store blob.Store, opts BlobsOptions) (*Blobs, error) {
	if e == nil || store == nil {
		return nil, fmt.Errorf("%w: Blobs needs an engine and a blob store", ErrConfig)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Blobs{e: e, store: store, o: opts}
	b.v, _ = store.(Verifier)
	return b, nil
}

// Upload checks the signed query of an upload URL of c, streams exactly size bytes from r
// into the blob store while verifying them against c (size and sha2-256) and then moves
// every pending store entry of c to done. Errors: ErrUnsupportedCID (not a sha2-256 CAR
// CID), blob.ErrPresignInvalid, blob.ErrPresignExpired or blob.ErrNoPresign (the URL is
// not good), blob.ErrSizeMismatch or blob.ErrDigestMismatch (the bytes are not c's;
// nothing is stored and the entries stay pending).
func (b *Blobs) Upload(ctx context.Context, c cid.Cid, r io.Reader, size int64, query url.Values) error {
	digest, err := Digest(c)
	if err != nil {
		return err
	}
	if b.v == nil {
		return fmt.Errorf("uploading %s: %w (this blob store takes uploads directly)", c, blob.ErrNoPresign)
	}
	key := carwhere.BlobKey(c)
	opts, err := b.v.VerifyPresigned(key, query, size, b.o.Clock())
	if err != nil {
		return fmt.Errorf("uploading %s: %w", c, err)
	}
	if f := b.o.InFlight; f != nil {
		f.add(1)
		defer f.add(-1)
	}
	if !bytes.Equal(opts.SHA256, digest) {
		return fmt.Errorf("uploading %s: %w: the URL was signed for another digest", c, blob.ErrDigestMismatch)
	}
	var scan *checked
	if b.o.Index != nil {
		// The whole-CAR digest is checked here, before the scan's verdict, so bytes that
		// are not the CID's leave the entries pending; blocks are hashed in carscan's
		// goroutine while this one hashes the whole.
		d, err := blob.NewDigestCheck(opts.SHA256)
		if err != nil {
			return fmt.Errorf("uploading %s: %w", c, err)
		}
		scan = &checked{src: r, limit: size + 1, d: d}
		scan.cr = carscan.NewReader(io.TeeReader(r, d))
		defer scan.cr.Close()
		r = scan
		opts.SHA256 = nil
	}
	var tee *piece.Tee
	if b.o.Pieces != nil {
		tee = b.o.Pieces.Tee()
		defer tee.Close()
		r = io.TeeReader(r, tee)
	}
	if err := b.store.Put(ctx, key, r, opts); err != nil {
		if scan != nil && scan.bad != nil {
			b.reject(ctx, c, scan.bad)
		}
		return fmt.Errorf("uploading %s: %w", c, err)
	}
	if tee != nil {
		// Put returned nil: the bytes are the CID's (size and sha2-256), so is the piece.
		k, err := tee.Finish(size)
		if err != nil {
			b.o.Logger.WarnContext(ctx, "store: the piece computed while uploading is not used", "cid", c.String(), "error", err)
		} else {
			b.o.Pieces.Stage(c, k)
		}
	}
	if scan != nil {
		res, err := scan.cr.Result()
		if err != nil {
			return fmt.Errorf("uploading %s: %w", c, err)
		}
		b.o.Index.Stage(c, res)
	}
	// The bytes are stored: deliver them even if the client goes away now (each batch
	// within DeliverTimeout).
	if _, err := b.Deliver(context.WithoutCancel(ctx), c, opts.Size); err != nil {
		return fmt.Errorf("uploading %s: stored, but delivering: %w", c, err)
	}
	return nil
}

// checked reads an upload through carscan and a digest check. When the scan fails (at
// the end or earlier), the digest decides the verdict: bytes that are not the CID's fail
// with blob.ErrDigestMismatch (the rest of the body is read to know), bytes that are
// fail with the scan's error.
type checked struct {
	src   io.Reader
	limit int64
	cr    *carscan.Reader
	d     *blob.DigestCheck
	err   error
	bad   error // the scan's verdict on bytes that are the CID's
}

func (c *checked) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.cr.Read(p)
	c.limit -= int64(n)
	if err == nil {
		return n, nil
	}
	if carscan.Invalid(err) {
		// Hash the rest of the body (at most its announced size) to tell a CAR that is
		// bad from bytes that are not the CID's.
		if _, rerr := io.Copy(c.d, io.LimitReader(c.src, max(c.limit, 0))); rerr != nil {
			c.err = rerr
			return n, rerr
		}
		if derr := c.d.Check(); derr != nil {
			err = derr
		} else {
			c.bad = err
		}
	} else if err == io.EOF {
		if derr := c.d.Check(); derr != nil {
			err = derr
		}
	}
	c.err = err
	return n, err
}

// reject ends every pending entry of c failed with the reason why its bytes are not a
// CAR: one self-issued RejectCommand invocation and transition EventRejected each,
// DeliverBatch at a time as Deliver does.
func (b *Blobs) reject(ctx context.Context, c cid.Cid, why error) {
	ctx = context.WithoutCancel(ctx)
	var spaces []string
	err := b.e.View(ctx, func(tx *dag.Tx) error {
		var err error
		spaces, err = pendingSpaces(tx, c)
		return err
	})
	if err != nil {
		b.o.Logger.WarnContext(ctx, "store: listing entries to reject", "cid", c.String(), "error", err)
		return
	}
	rejectOne := func(ctx context.Context, space string) (Delivery, error) {
		p := dag.Path{Subject: space, Collection: Name, Key: c.String()}
		args, err := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "path", qp.String(p.String()))
			qp.MapEntry(ma, "reason", qp.String(dag.StateText(why.Error(), MaxReasonLength)))
		})
		var res *dag.Result
		if err == nil {
			var inv *ucan.Token
			if inv, err = b.e.Invoke(RejectCommand, args); err == nil {
				if res, err = b.e.Transition(ctx, inv, p, EventRejected, args); err == nil && res.Err != nil {
					err = res.Err
				}
			}
		}
		if err != nil {
			b.o.Logger.WarnContext(ctx, "store: rejecting an upload", "path", p.String(), "error", err)
			return Delivery{}, nil // the others go on
		}
		return Delivery{Path: p, Result: res}, nil
	}
	for len(spaces) > 0 {
		n := min(len(spaces), DeliverBatch)
		b.batch(ctx, spaces[:n], rejectOne)
		spaces = spaces[n:]
	}
}

// CheckUpload checks the signed query of an upload URL of c for size bytes without
// reading any: the checks of Upload before the bytes (same errors).
func (b *Blobs) CheckUpload(ctx context.Context, c cid.Cid, size int64, query url.Values) error {
	digest, err := Digest(c)
	if err != nil {
		return err
	}
	if b.v == nil {
		return fmt.Errorf("uploading %s: %w (this blob store takes uploads directly)", c, blob.ErrNoPresign)
	}
	opts, err := b.v.VerifyPresigned(carwhere.BlobKey(c), query, size, b.o.Clock())
	if err != nil {
		return fmt.Errorf("uploading %s: %w", c, err)
	}
	if !bytes.Equal(opts.SHA256, digest) {
		return fmt.Errorf("uploading %s: %w: the URL was signed for another digest", c, blob.ErrDigestMismatch)
	}
	return nil
}

// Delivery is the outcome of delivering bytes to one pending entry.
type Delivery struct {
	Path   dag.Path
	Result *dag.Result
}

// Deliver moves every pending store entry of c (in any space) to done, now that its
// size bytes are stored and verified: one self-issued DeliverCommand invocation and
// transition EventDelivered per entry, each with its own receipt. An entry that was
// removed or expired meanwhile keeps its state (its delivery gets an error receipt).
// Entries are delivered DeliverBatch at a time, concurrently so that the engine commits
// each batch in one transaction (or few), each batch within DeliverTimeout. The
// deliveries are returned in the order of the pending index.
func (b *Blobs) Deliver(ctx context.Context, c cid.Cid, size int64) ([]Delivery, error) {
	var spaces []string
	err := b.e.View(ctx, func(tx *dag.Tx) error {
		var err error
		spaces, err = pendingSpaces(tx, c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing pending entries of %s: %w", c, err)
	}
	out := make([]Delivery, 0, len(spaces))
	for len(spaces) > 0 {
		n := min(len(spaces), DeliverBatch)
		ds, err := b.batch(ctx, spaces[:n], func(ctx context.Context, space string) (Delivery, error) {
			return b.deliverOne(ctx, c, size, space)
		})
		out = append(out, ds...)
		if err != nil {
			return out, err
		}
		spaces = spaces[n:]
	}
	return out, nil
}

// batch runs fn for every space concurrently (so the engine group-commits their
// transitions), within DeliverTimeout; it returns the outcomes that happened, in the
// order of spaces, and the first error.
func (b *Blobs) batch(ctx context.Context, spaces []string, fn func(context.Context, string) (Delivery, error)) ([]Delivery, error) {
	ctx, cancel := context.WithTimeout(ctx, DeliverTimeout)
	defer cancel()
	ds := make([]Delivery, len(spaces))
	errs := make([]error, len(spaces))
	var wg sync.WaitGroup
	for i, space := range spaces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds[i], errs[i] = fn(ctx, space)
		}()
	}
	wg.Wait()
	out := make([]Delivery, 0, len(ds))
	var first error
	for i, d := range ds {
		if errs[i] != nil {
			if first == nil {
				first = errs[i]
			}
			continue
		}
		out = append(out, d)
	}
	return out, first
}

// deliverOne moves the pending store entry of c in space to done.
func (b *Blobs) deliverOne(ctx context.Context, c cid.Cid, size int64, space string) (Delivery, error) {
	p := dag.Path{Subject: space, Collection: Name, Key: c.String()}
	args, err := qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "path", qp.String(p.String()))
		qp.MapEntry(ma, "link", qp.Link(cidlink.Link{Cid: c}))
		qp.MapEntry(ma, "size", qp.Int(size))
	})
	if err != nil {
		return Delivery{}, err
	}
	inv, err := b.e.Invoke(DeliverCommand, args)
	if err != nil {
		return Delivery{}, fmt.Errorf("invoking delivery to %s: %w", p, err)
	}
	res, err := b.e.Transition(ctx, inv, p, EventDelivered, args)
	if err != nil {
		return Delivery{}, fmt.Errorf("delivering to %s: %w", p, err)
	}
	if res.Err != nil {
		b.o.Logger.WarnContext(ctx, "store: delivery refused", "path", p.String(), "error", res.Err)
	}
	return Delivery{Path: p, Result: res}, nil
}

// Open returns the bytes of the CAR c, or the range rng of them (blob.ErrNotFound, also
// for a CID not hashed with sha2-256, which no store entry can have;
// blob.ErrInvalidRange).
func (b *Blobs) Open(ctx context.Context, c cid.Cid, rng *blob.Range) (io.ReadCloser, blob.Info, error) {
	if c.Type() != collection.CodecCAR {
		return nil, blob.Info{}, fmt.Errorf("reading %s: %w (not a CAR CID)", c, blob.ErrNotFound)
	}
	// Only sha2-256 CARs are ever stored; any other hash (an identity multihash of
	// hundreds of bytes would make a file name too long) is simply not here.
	if _, err := Digest(c); err != nil {
		return nil, blob.Info{}, fmt.Errorf("reading %s: %w (%w)", c, blob.ErrNotFound, err)
	}
	return b.store.Get(ctx, carwhere.BlobKey(c), rng)
}
