package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/message"
)

// Key prefixes of the archive.
const (
	WorkflowPrefix   = "workflow/"
	InvocationPrefix = "invocation/"
	TaskPrefix       = "task/"
)

// MaxMessageSize is the largest message Get reads back, in bytes: the largest reply (which
// is larger than any request the server accepts).
const MaxMessageSize = message.MaxReplySize

// WorkflowKey is the blob key of message msg: workflow/<msg>/<msg>.
func WorkflowKey(msg cid.Cid) string {
	s := msg.String()
	return WorkflowPrefix + s + "/" + s
}

// InvocationInKey names the link from invocation inv to the request message msg it
// arrived in: invocation/<inv>/<msg>.in.
func InvocationInKey(inv, msg cid.Cid) string {
	return InvocationPrefix + inv.String() + "/" + msg.String() + ".in"
}

// InvocationOutKey names the link from invocation inv to the reply message msg that
// carried its receipt: invocation/<inv>/<msg>.out.
func InvocationOutKey(inv, msg cid.Cid) string {
	return InvocationPrefix + inv.String() + "/" + msg.String() + ".out"
}

// TaskInvocationKey names the link from task to an invocation of it:
// task/<task>/<inv>.invocation.
func TaskInvocationKey(task, inv cid.Cid) string {
	return TaskPrefix + task.String() + "/" + inv.String() + ".invocation"
}

// TaskResultKey names the stored outcome of task: task/<task>/<task>.result.
func TaskResultKey(task cid.Cid) string {
	s := task.String()
	return TaskPrefix + s + "/" + s + ".result"
}

// Options configure an Archive.
type Options struct {
	// Logger receives one debug line per message written and the mover's failures; nil
	// discards.
	Logger *slog.Logger
	// Outbox, when not nil, makes Put durable in this kv store instead of blob storage:
	// concurrent Puts share one transaction (group commit), and Run moves the messages to
	// blob storage afterwards. Nil: Put writes blob storage directly.
	Outbox kv.Store
	// Direct, with an Outbox, makes Put write blob storage directly as without one: the
	// outbox then holds only the messages written in the caller's transactions
	// (ArchiveInvocation), which Run still moves. False: Put goes through the outbox.
	Direct bool
	// Commit, when not nil, writes to the outbox through the caller's group commit (the
	// dag engine's, so that message writes share transactions with operations) instead
	// of the archive's own. It must run fn in a transaction of Outbox and return when that
	// transaction is durable; fn may run more than once.
	Commit func(ctx context.Context, fn func(kv.Tx) error) error
	// MaxBatch bounds the messages one outbox commit holds; zero means DefaultMaxBatch.
	MaxBatch int
	// MovePoll is how often Run looks for messages other processes put in a shared outbox;
	// zero means DefaultMovePoll.
	MovePoll time.Duration
	// OwnOutbox says the Outbox is this Archive's alone: no other process or Archive puts
	// or moves messages there (an embedded kv that one process holds locked). Run then
	// moves the messages Put committed from the bytes Put was given, without reading
	// their rows back. False: it reads each row back and skips those another process
	// moved first, as a shared outbox (one PostgreSQL database for several services)
	// needs.
	OwnOutbox bool
}

// Archive stores agent messages in a blob.Store, optionally through a kv outbox.
type Archive struct {
	blobs blob.Store
	log   *slog.Logger
	ob    *outbox // nil without Options.Outbox
	// direct: Put writes blob storage even with an outbox (Options.Direct).
	direct bool
}

// New returns an archive over blobs. With Options.Outbox, call Close when done and run
// Run to move messages to blob storage.
func New(blobs blob.Store, opts Options) *Archive {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Archive{blobs: blobs, log: log, direct: opts.Direct}
	if opts.Outbox != nil {
		a.ob = newOutbox(opts, log)
	}
	return a
}

// Put stores a message as it was received or sent and returns its CID, CIDv1 of its
// sha2-256 with the given codec (message.CodecCAR for CAR messages, message.CodecRaw for
// other bodies). When Put returns nil the bytes are durable: in blob storage, or in the
// outbox on their way there. Errors wrap ErrWrite. Storing a message twice is harmless.
// data must not be modified after Put returns: the outbox's mover may keep it to move.
func (a *Archive) Put(ctx context.Context, codec uint64, data []byte) (cid.Cid, error) {
	msg := message.Sum(codec, data)
	var err error
	if a.ob != nil && !a.direct && len(data) <= kv.MaxValueSize {
		err = a.ob.put(ctx, msg, data)
	} else {
		// No outbox, or a message too large for a kv value: straight to blob storage.
		err = a.putBlob(ctx, msg, data)
	}
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: message %s: %w", ErrWrite, msg, err)
	}
	if a.log.Enabled(ctx, slog.LevelDebug) { // msg.String() is not free: one a request and reply
		a.log.DebugContext(ctx, "archived message", "msg", msg.String(), "size", len(data))
	}
	return msg, nil
}

// Stage prepares message data (codec as for Put) to be written in a transaction of the
// caller's instead of by Put: the transaction of the operation that runs the message's
// one invocation (dag.WithPreWrite), so that the message is durable exactly when that run
// is, never after it, at one commit wait instead of two. write writes it through kt, a
// transaction of Options.Outbox (the engine's, which Options.Commit writes through too),
// under KVPrefix only; it may run more than once (each attempt of the transaction).
// committed, called once that transaction has committed, lets Run move the message as it
// moves Put's. A transaction that does not commit leaves nothing: Put the message then.
// ok is false when the archive writes no message in its callers' transactions: without
// Options.Commit (its outbox is not the callers' store), with Options.Direct, or for a
// message larger than a kv value; Put it then. As with Put, data must not be modified
// afterwards: the mover may keep it to move (Options.OwnOutbox).
func (a *Archive) Stage(codec uint64, data []byte) (msg cid.Cid, write func(kt kv.Tx) error, committed func(), ok bool) {
	if a.ob == nil || a.ob.commitFn == nil || a.direct || len(data) > kv.MaxValueSize {
		return cid.Undef, nil, nil, false
	}
	msg = message.Sum(codec, data)
	key := outboxKey(msg)
	mark := a.ob.moveMark() // before the transaction that writes the row
	write = func(kt kv.Tx) error {
		if err := kt.Put(key, data); err != nil {
			return fmt.Errorf("%w: message %s: writing the outbox: %w", ErrWrite, msg, err)
		}
		return nil
	}
	committed = func() {
		a.ob.wrote(msg, data, mark) // committed: with OwnOutbox the mover takes these bytes
		if a.log.Enabled(context.Background(), slog.LevelDebug) {
			a.log.Debug("archived message", "msg", msg.String(), "size", len(data), "staged", true)
		}
	}
	return msg, write, committed, true
}

// putBlob writes message msg to its blob key, pinning its size and digest.
func (a *Archive) putBlob(ctx context.Context, msg cid.Cid, data []byte) error {
	item, err := blobItem(msg, data)
	if err != nil {
		return err
	}
	return a.blobs.Put(ctx, item.Key, bytes.NewReader(data), item.Opts)
}

// blobItem is the blob write of message msg: its key, size and digest.
func blobItem(msg cid.Cid, data []byte) (blob.BatchItem, error) {
	digest, err := multihash.Decode(msg.Hash())
	if err != nil {
		return blob.BatchItem{}, fmt.Errorf("hashing message: %w", err)
	}
	return blob.BatchItem{Key: WorkflowKey(msg), Data: data, Opts: blob.PutOptions{Size: int64(len(data)), SHA256: digest.Digest}}, nil
}

// Get returns the bytes of message msg, checked against its CID: from its segment (a
// byte range of one blob), from the outbox, or from a message file of its own (messages
// archived without an outbox, too large for one, or before segments). ErrNotFound when
// the archive does not hold it.
func (a *Archive) Get(ctx context.Context, msg cid.Cid) ([]byte, error) {
	if a.ob != nil {
		loc, data, err := a.ob.lookup(ctx, msg)
		if err != nil {
			return nil, err
		}
		if data != nil {
			return data, nil
		}
		if loc != nil {
			return a.readSegment(ctx, msg, *loc)
		}
	}
	data, err := readBlob(ctx, a.blobs, WorkflowKey(msg), MaxMessageSize)
	if err != nil {
		return nil, err
	}
	return checked(msg, data)
}

// checked returns data if it hashes to msg, else ErrCorrupt.
func checked(msg cid.Cid, data []byte) ([]byte, error) {
	got, err := msg.Prefix().Sum(data)
	if err != nil || !got.Equals(msg) {
		return nil, fmt.Errorf("%w: message %s", ErrCorrupt, msg)
	}
	return data, nil
}

// readSegment reads message msg's byte range from its segment.
func (a *Archive) readSegment(ctx context.Context, msg cid.Cid, loc location) ([]byte, error) {
	if loc.Length == 0 {
		return checked(msg, []byte{}) // no byte range to read
	}
	key := SegmentKey(loc.Segment)
	rc, _, err := a.blobs.Get(ctx, key, &blob.Range{Start: loc.Offset, End: loc.Offset + loc.Length - 1})
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrInvalidRange) {
		return nil, fmt.Errorf("%w: %s indexed in %s: %v", ErrCorrupt, msg, key, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading message %s from %s: %w", msg, key, err)
	}
	defer rc.Close()
	data := make([]byte, loc.Length)
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, fmt.Errorf("reading message %s from %s: %w", msg, key, err)
	}
	return checked(msg, data)
}

// Has reports whether the archive holds message msg.
func (a *Archive) Has(ctx context.Context, msg cid.Cid) (bool, error) {
	if a.ob != nil {
		loc, data, err := a.ob.lookup(ctx, msg)
		if err != nil {
			return false, err
		}
		if loc != nil || data != nil {
			return true, nil
		}
	}
	_, err := a.blobs.Stat(ctx, WorkflowKey(msg))
	if errors.Is(err, blob.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking up message %s: %w", msg, err)
	}
	return true, nil
}

// Messages calls fn with the CID of every archived message: those in message files of
// their own in key order, then those in segments (in index order), then those still in
// the outbox. fn returning blob.ErrStop ends the walk early
// without error. A message moved while Messages runs may be reported twice.
func (a *Archive) Messages(ctx context.Context, fn func(msg cid.Cid) error) error {
	stopped := false
	err := a.blobs.List(ctx, WorkflowPrefix, func(info blob.Info) error {
		rest := strings.TrimPrefix(info.Key, WorkflowPrefix)
		dir, name, ok := strings.Cut(rest, "/")
		if !ok || dir != name {
			return nil
		}
		c, err := cid.Decode(name)
		if err != nil {
			return fmt.Errorf("%w: key %s does not name a message: %v", ErrCorrupt, info.Key, err)
		}
		err = fn(c)
		if errors.Is(err, blob.ErrStop) {
			stopped = true
		}
		return err
	})
	if err != nil || stopped || a.ob == nil {
		return err
	}
	msgs, err := a.ob.listIndexed(ctx)
	if err != nil {
		return err
	}
	for _, c := range msgs {
		if err := fn(c); errors.Is(err, blob.ErrStop) {
			return nil
		} else if err != nil {
			return err
		}
	}
	return nil
}
