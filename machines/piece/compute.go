package piece

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"runtime"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/internal/nodefield"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/task"
	commp "github.com/w3dag/w3dag/piece"
	"github.com/w3dag/w3dag/ucan"
)

// Handlers returns the task handlers of the piece machine, by command, for the task
// runner of e: ComputeCommand, reading CARs from blobs and hashing their md5 with commP.
// logger may be nil.
func Handlers(e *dag.Engine, blobs blob.Store, logger *slog.Logger) map[string]task.Handler {
	return HandlersWith(e, blobs, ComputeOptions{Logger: logger})
}

// HandlersWith is Handlers with options.
func HandlersWith(e *dag.Engine, blobs blob.Store, opts ComputeOptions) map[string]task.Handler {
	return map[string]task.Handler{ComputeCommand: ComputeHandlerWith(e, blobs, opts)}
}

// ReadBacks is how many CARs one compute handler reads back at once. Each hashes on
// piece.ComputeWorkers cores already; tasks due together run one after another instead
// of holding their buffers at the same time, each yielding (ComputeOptions.Yield) once it
// has its turn.
const ReadBacks = 1

// ComputeOptions configure the compute handler.
type ComputeOptions struct {
	// Logger receives computed pieces at debug level; nil discards.
	Logger *slog.Logger
	// NoMD5, when true, hashes no md5 of a CAR read back to compute its piece. The md5 is
	// only for broker offers (machines/aggregate), which hash the CAR when the piece index
	// has none, so a service that makes no offers sets it and saves a pass of md5 (about
	// 1.6 CPU-seconds a GiB). The zero value hashes md5 beside commP.
	NoMD5 bool
	// Yield, when set, is called right before a CAR is read back to compute its piece,
	// once the task has its read-back slot (ReadBacks), so tasks queued for the slot do
	// not yield together and then read one after another; the task goes on when it
	// returns. The service gives it the upload endpoint's
	// store.InFlight.Wait, so that reading a CAR back and hashing it (about 4 CPU-seconds
	// a GiB) waits, for a bounded time, while uploads are being received on the same
	// cores. Nil reads at once.
	Yield func(context.Context)
}

// ComputeHandler is ComputeHandlerWith with only a logger (md5 hashed).
func ComputeHandler(e *dag.Engine, blobs blob.Store, logger *slog.Logger) task.Handler {
	return ComputeHandlerWith(e, blobs, ComputeOptions{Logger: logger})
}

// ComputeHandlerWith returns the handler of compute tasks. A task whose piece entry is
// no longer queued finishes at once without reading the blob. A task whose args carry
// the piece (computed while the CAR was uploaded, QueueKnown) records it without reading
// the blob (a piece there that is not one of size bytes is logged and ignored). Otherwise it streams the CAR at carwhere.BlobKey from blobs through
// piece.Compute, checking its size and sha2-256 against the task's content and size,
// and moves the entry to computed through Engine.Transition with the task's own
// invocation. Read errors are returned (the runner retries them with backoff); bytes
// that are not the CAR's (ErrMismatch), a missing entry (ErrNoEntry) and malformed
// tasks fail the task for good (task.Permanent). In every failure the entry stays
// queued.
func ComputeHandlerWith(e *dag.Engine, blobs blob.Store, opts ComputeOptions) task.Handler {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	readBack := make(chan struct{}, ReadBacks)
	return func(ctx context.Context, inv *ucan.Token) error {
		if inv == nil || inv.Invocation == nil {
			return task.Permanent(fmt.Errorf("%w: compute task without an invocation", task.ErrInvalidTask))
		}
		args := inv.Invocation.Args
		p, err := task.PathOf(args)
		if err != nil {
			return task.Permanent(err)
		}
		content, err := nodefield.Link(args, "content")
		if err != nil {
			return task.Permanent(fmt.Errorf("%w: computing %s: %v", task.ErrInvalidTask, p, err))
		}
		size, err := nodefield.Int(args, "size")
		if err != nil {
			return task.Permanent(fmt.Errorf("%w: computing %s: %v", task.ErrInvalidTask, p, err))
		}
		if size < 1 {
			return task.Permanent(fmt.Errorf("%w: computing %s: size %d", task.ErrInvalidTask, p, size))
		}
		if p.Collection != Name || p.Key != content.String() {
			return task.Permanent(fmt.Errorf("%w: computing %s: the path is not the piece of %s", task.ErrInvalidTask, p, content))
		}
		digest, err := carDigest(content)
		if err != nil {
			return task.Permanent(fmt.Errorf("computing %s: %w", p, err))
		}
		cur, err := e.Entry(ctx, p)
		if errors.Is(err, dag.ErrNotFound) {
			return task.Permanent(fmt.Errorf("computing %s: %w", p, ErrNoEntry))
		}
		if err != nil {
			return fmt.Errorf("computing %s: reading the entry: %w", p, err)
		}
		if cur.Status != StatusQueued {
			return nil // computed before: never twice
		}
		known, err := knownArgs(args, size)
		if err != nil {
			// Not a piece of this CAR: compute it from the bytes instead.
			logger.WarnContext(ctx, "piece: the task's piece is not usable; reading the CAR", "path", p.String(), "error", err)
			known = nil
		}
		read := known == nil
		if read {
			select {
			case readBack <- struct{}{}:
			case <-ctx.Done():
				return fmt.Errorf("computing %s: %w", p, ctx.Err())
			}
			// Yield with the slot held, right before reading: a task that waited for the
			// slot yields to the uploads that arrived meanwhile.
			if opts.Yield != nil {
				opts.Yield(ctx)
			}
			pc, sum, err := compute(ctx, blobs, carwhere.BlobKey(content), size, digest, !opts.NoMD5)
			<-readBack
			if err != nil {
				return fmt.Errorf("computing %s: %w", p, err)
			}
			known = &Known{Piece: pc.CID(), MD5: sum}
		}
		data, err := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "piece", qp.Link(cidlink.Link{Cid: known.Piece}))
			if known.MD5 != nil {
				qp.MapEntry(ma, "md5", qp.Bytes(known.MD5))
			}
		})
		if err != nil {
			return fmt.Errorf("computing %s: %w", p, err)
		}
		res, err := e.Transition(ctx, inv, p, EventComputed, data)
		if err != nil {
			return fmt.Errorf("computing %s: recording the piece: %w", p, err)
		}
		if res.Err != nil {
			return task.Permanent(fmt.Errorf("computing %s: recording the piece: %w", p, res.Err))
		}
		logger.DebugContext(ctx, "piece computed", "path", p.String(), "piece", known.Piece.String(), "size", size, "read", read, "repeat", res.Repeat)
		return nil
	}
}

// TaskKnown returns the CAR (content) of a compute task's args and the piece they carry
// (QueueKnown), nil when they carry none (the task reads the CAR), for a replay to stage
// it as the upload did. It is an error when the args lack content or size, or carry what
// is not a piece of size bytes.
func TaskKnown(args datamodel.Node) (cid.Cid, *Known, error) {
	content, err := nodefield.Link(args, "content")
	if err != nil {
		return cid.Undef, nil, err
	}
	size, err := nodefield.Int(args, "size")
	if err != nil {
		return cid.Undef, nil, err
	}
	k, err := knownArgs(args, size)
	return content, k, err
}

// knownArgs returns the piece a compute task's args carry ({piece, md5?}, see
// QueueKnown), nil when they carry none, or an error when what they carry is not a
// piece of size bytes.
func knownArgs(args datamodel.Node, size int64) (*Known, error) {
	if v, err := args.LookupByString("piece"); err != nil || v == nil || v.IsAbsent() {
		return nil, nil
	}
	pc, err := nodefield.Link(args, "piece")
	if err != nil {
		return nil, err
	}
	sum, err := md5Field(args)
	if err != nil {
		return nil, err
	}
	k := Known{Piece: pc, MD5: sum}
	if err := knownOf(k, size); err != nil {
		return nil, err
	}
	return &k, nil
}

// compute streams the blob at key through piece.Compute and checks that it is size bytes
// whose sha2-256 digest is digest. It returns the piece and, when withMD5, the blob's
// md5 digest, hashed in the same pass (the broker offer needs it; it is kept in the
// piece index).
func compute(ctx context.Context, blobs blob.Store, key string, size int64, digest []byte, withMD5 bool) (commp.Piece, []byte, error) {
	rc, _, err := blobs.Get(ctx, key, nil)
	if err != nil {
		return commp.Piece{}, nil, fmt.Errorf("reading %s: %w", key, err)
	}
	defer rc.Close()
	h := sha256.New()
	var tee io.Writer = h
	var m hash.Hash
	if withMD5 {
		m = md5.New()
		tee = io.MultiWriter(h, m)
	}
	// A blob longer than the CAR is a mismatch whatever follows: read one byte past it
	// at most, not the whole blob.
	w := commp.NewWriterWorkers(ComputeWorkers())
	defer w.Close()
	if _, err := w.ReadFrom(io.TeeReader(commp.ContextReader(ctx, io.LimitReader(rc, size+1)), tee)); err != nil {
		return commp.Piece{}, nil, fmt.Errorf("reading %s: %w", key, err)
	}
	pc, err := w.Sum()
	if err != nil {
		return commp.Piece{}, nil, fmt.Errorf("reading %s: %w", key, err)
	}
	if pc.Size != uint64(size) {
		return commp.Piece{}, nil, task.Permanent(fmt.Errorf("%w: %s holds %d bytes, the CAR has %d", ErrMismatch, key, pc.Size, size))
	}
	if sum := h.Sum(nil); !bytes.Equal(sum, digest) {
		return commp.Piece{}, nil, task.Permanent(fmt.Errorf("%w: %s has sha2-256 %x, the CAR CID says %x", ErrMismatch, key, sum, digest))
	}
	if m == nil {
		return pc, nil, nil
	}
	return pc, m.Sum(nil), nil
}

// ComputeWorkers is how many cores one piece computation hashes on: half of GOMAXPROCS,
// at least 1, so that a service computing the piece of a large CAR keeps cores for its
// requests (commP costs about four times sha2-256 a byte; on every core it halved the
// throughput of concurrent uploads on 2 cores).
func ComputeWorkers() int { return max(1, runtime.GOMAXPROCS(0)/2) }
