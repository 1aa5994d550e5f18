package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/message"
)

// KVPrefix starts every kv key the archive writes through Options.Commit (the outbox and
// the refusal records): a caller that gives Commit a view of its transaction confines it
// to this prefix.
const KVPrefix = "outbox/"

// RefusedPrefix starts the kv keys of refusal records: outbox/refused/<message CID bytes>
// → the record as JSON. They stay in kv (they are small); the mover does not move them.
const RefusedPrefix = "outbox/refused/"

// RefusedBlobPrefix starts the blob keys of refusal records of an archive without an
// outbox: refused/<message CID>.
const RefusedBlobPrefix = "refused/"

// Bounds of a refusal record, so that one costs at most about a kilobyte whatever the
// message held.
const (
	// MaxRefusalSender is the most bytes of the sender's DID a record keeps.
	MaxRefusalSender = 256
	// MaxRefusalNames is the most distinct refusal names a record keeps.
	MaxRefusalNames = 16
)

// Refusal is what the archive keeps of a message every invocation of which was refused
// before running, instead of the message: enough for an audit, a few hundred bytes
// whatever the message's size.
type Refusal struct {
	// Message is the CID the message would have been archived under.
	Message cid.Cid `json:"-"`
	// Size is the message's size in bytes.
	Size int `json:"size"`
	// Invocations is how many invocations it held.
	Invocations int `json:"invocations"`
	// Sender is the issuer of its first invocation, as the token claims it (a refused
	// token's signature may not be its issuer's), cut to MaxRefusalSender bytes.
	Sender string `json:"sender"`
	// Refusals are the distinct error names of the refusals, sorted, at most
	// MaxRefusalNames.
	Refusals []string `json:"refusals"`
	// At is when the message was refused.
	At time.Time `json:"at"`
}

type refusalJSON struct {
	Message string `json:"message"`
	Refusal
}

func (r Refusal) encode() ([]byte, error) {
	r.Sender = truncate(r.Sender, MaxRefusalSender)
	names := slices.Clone(r.Refusals)
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) > MaxRefusalNames {
		names = names[:MaxRefusalNames]
	}
	for i, n := range names {
		names[i] = truncate(n, MaxRefusalSender)
	}
	r.Refusals = names
	return json.Marshal(refusalJSON{Message: r.Message.String(), Refusal: r})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func decodeRefusal(data []byte) (Refusal, error) {
	var j refusalJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return Refusal{}, fmt.Errorf("%w: refusal record: %v", ErrCorrupt, err)
	}
	c, err := cid.Decode(j.Message)
	if err != nil {
		return Refusal{}, fmt.Errorf("%w: refusal record: message %q: %v", ErrCorrupt, j.Message, err)
	}
	r := j.Refusal
	r.Message = c
	return r, nil
}

// PutRefusal durably records, in place of message data (of the given codec, as in Put),
// that every invocation in it was refused before running: its CID, size and invocation
// count, the sender (the issuer of its first invocation) and the refusals' error names, in
// the outbox's kv store (through Options.Commit when set), or as a small blob without an
// outbox (or with Options.Direct). The message's bytes are not kept. It returns the message's CID; errors wrap
// ErrWrite.
func (a *Archive) PutRefusal(ctx context.Context, codec uint64, data []byte, invocations int, sender string, names []string) (cid.Cid, error) {
	r := Refusal{Message: message.Sum(codec, data), Size: len(data), Invocations: invocations,
		Sender: sender, Refusals: names, At: time.Now().UTC()}
	rec, err := r.encode()
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: refusal of %s: %w", ErrWrite, r.Message, err)
	}
	if a.ob == nil || a.direct {
		err = a.blobs.Put(ctx, RefusedBlobPrefix+r.Message.String(), bytes.NewReader(rec), blob.PutOptions{Size: int64(len(rec))})
	} else {
		key := append([]byte(RefusedPrefix), r.Message.Bytes()...)
		write := func(tx kv.Tx) error { return tx.Put(key, rec) }
		if a.ob.commitFn != nil {
			err = a.ob.commitFn(ctx, write)
		} else {
			err = a.ob.store.Update(ctx, write)
		}
	}
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: refusal of %s: %w", ErrWrite, r.Message, err)
	}
	a.log.DebugContext(ctx, "recorded a refused message", "msg", r.Message.String(), "size", r.Size)
	return r.Message, nil
}

// Refused returns the refusal record of message msg; ErrNotFound when there is none.
func (a *Archive) Refused(ctx context.Context, msg cid.Cid) (Refusal, error) {
	var data []byte
	if a.ob == nil || a.direct {
		rc, _, err := a.blobs.Get(ctx, RefusedBlobPrefix+msg.String(), nil)
		if errors.Is(err, blob.ErrNotFound) {
			return Refusal{}, fmt.Errorf("%w: no refusal of %s", ErrNotFound, msg)
		}
		if err != nil {
			return Refusal{}, fmt.Errorf("reading the refusal of %s: %w", msg, err)
		}
		defer rc.Close()
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(rc); err != nil {
			return Refusal{}, fmt.Errorf("reading the refusal of %s: %w", msg, err)
		}
		data = buf.Bytes()
	} else {
		err := a.ob.store.View(ctx, func(tx kv.Tx) error {
			v, err := tx.Get(append([]byte(RefusedPrefix), msg.Bytes()...))
			if err != nil {
				return err
			}
			data = append([]byte(nil), v...)
			return nil
		})
		if errors.Is(err, kv.ErrNotFound) {
			return Refusal{}, fmt.Errorf("%w: no refusal of %s", ErrNotFound, msg)
		}
		if err != nil {
			return Refusal{}, fmt.Errorf("reading the refusal of %s: %w", msg, err)
		}
	}
	return decodeRefusal(data)
}
