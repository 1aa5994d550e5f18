package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/blob"
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
	// Logger receives one debug line per message written; nil discards.
	Logger *slog.Logger
}

// Archive stores agent messages in a blob.Store.
type Archive struct {
	blobs blob.Store
	log   *slog.Logger
}

// New returns an archive over blobs.
func New(blobs blob.Store, opts Options) *Archive {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Archive{blobs: blobs, log: log}
}

// Put stores a message as it was received or sent and returns its CID, CIDv1 of its
// sha2-256 with the given codec (message.CodecCAR for CAR messages, message.CodecRaw for
// other bodies). When Put returns nil the bytes are in blob storage; errors wrap ErrWrite.
// Storing a message twice is harmless.
func (a *Archive) Put(ctx context.Context, codec uint64, data []byte) (cid.Cid, error) {
	msg := message.Sum(codec, data)
	digest, err := multihash.Decode(msg.Hash())
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: hashing message: %v", ErrWrite, err)
	}
	key := WorkflowKey(msg)
	err = a.blobs.Put(ctx, key, bytes.NewReader(data), blob.PutOptions{Size: int64(len(data)), SHA256: digest.Digest})
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: message %s: %w", ErrWrite, msg, err)
	}
	a.log.DebugContext(ctx, "archived message", "msg", msg.String(), "size", len(data))
	return msg, nil
}

// Get returns the bytes of message msg, checked against its CID. ErrNotFound when the
// archive does not hold it.
func (a *Archive) Get(ctx context.Context, msg cid.Cid) ([]byte, error) {
	rc, info, err := a.blobs.Get(ctx, WorkflowKey(msg), nil)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, msg)
	}
	if err != nil {
		return nil, fmt.Errorf("reading message %s: %w", msg, err)
	}
	defer rc.Close()
	if info.Size > MaxMessageSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrCorrupt, msg, info.Size, MaxMessageSize)
	}
	data, err := io.ReadAll(io.LimitReader(rc, MaxMessageSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading message %s: %w", msg, err)
	}
	got, err := msg.Prefix().Sum(data)
	if err != nil || !got.Equals(msg) {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, msg)
	}
	return data, nil
}

// Has reports whether the archive holds message msg.
func (a *Archive) Has(ctx context.Context, msg cid.Cid) (bool, error) {
	_, err := a.blobs.Stat(ctx, WorkflowKey(msg))
	if errors.Is(err, blob.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking up message %s: %w", msg, err)
	}
	return true, nil
}

// Messages calls fn with the CID of every archived message, in key order. fn returning
// blob.ErrStop ends the walk early without error.
func (a *Archive) Messages(ctx context.Context, fn func(msg cid.Cid) error) error {
	return a.blobs.List(ctx, WorkflowPrefix, func(info blob.Info) error {
		rest := strings.TrimPrefix(info.Key, WorkflowPrefix)
		dir, name, ok := strings.Cut(rest, "/")
		if !ok || dir != name {
			return nil
		}
		c, err := cid.Decode(name)
		if err != nil {
			return fmt.Errorf("%w: key %s does not name a message: %v", ErrCorrupt, info.Key, err)
		}
		return fn(c)
	})
}
