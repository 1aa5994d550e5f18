package usage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/internal/nodefield"
	"github.com/w3dag/w3dag/kv"
)

const (
	// Command is the command of the self-issued invocation behind every usage record.
	Command = "/space/usage/record"
	// Name is the name of the usage collection of spaces.
	Name = "usage"
	// StatusRecorded is the status of every usage record state.
	StatusRecorded = "recorded"

	// CountedPrefix keys the bytes counted per (space, blob): CountedPrefix<space>/<blob>.
	CountedPrefix = "usage/counted/"
	// sizePrefix names the kv counter of a space's size: sizePrefix<space>.
	sizePrefix = "usage/size/"
)

// Collection returns the usage collection: a space collection of usage records, written
// only by the service (Record), with no machine of its own.
func Collection() dag.Collection {
	return dag.Collection{Spec: collection.Spec{Name: Name, Subjects: collection.Space, Writers: collection.ServiceOnly, Type: "UsageEntry"}}
}

// Record records a change of the size of space caused by blob in tx, so it commits with
// the change: delta > 0 counts blob (its size), delta < 0 uncounts it. It self-issues a
// /space/usage/record invocation {space, blob, delta, cause} and writes the record entry
// /<space>/usage/<key> with its own receipt (ran = that invocation), and adds the delta
// actually applied to the space's size, which it returns:
//
//   - counting a blob already counted in space applies 0;
//   - uncounting a blob that is not counted applies 0;
//   - uncounting a counted blob applies minus the size counted (whatever delta says).
//
// cause is the invocation whose receipt is the change (in a machine hook,
// tx.Invocation().CID; for a system transition, its self-issued invocation): the engine
// issues that receipt after the hook returns, so the record names the invocation, and
// GET /receipts/{cause} (or the entry's chain) finds the receipt.
//
// Effects: the record's receipt is recorded as the result of its invocation
// (dag.Tx.SetResult, so GET /receipts/<invocation> returns it), and the invocation is
// listed in the fx of the receipt the engine issues for tx's operation (dag.Tx.Effect):
// from a store done or remove receipt, fx leads to the usage record.
func Record(tx *dag.Tx, space string, blob cid.Cid, delta int64, cause cid.Cid) (int64, error) {
	if !strings.HasPrefix(space, "did:key:") || len(space) > collection.MaxSubjectLength || strings.ContainsAny(space, "/\x00") {
		return 0, fmt.Errorf("%w: subject %q is not a did:key space", ErrInvalidRecord, space)
	}
	if !blob.Defined() || !cause.Defined() {
		return 0, fmt.Errorf("%w: blob and cause must be defined CIDs", ErrInvalidRecord)
	}
	kt, err := tx.KV(CountedPrefix)
	if err != nil {
		return 0, err
	}
	ck := countedKey(space, blob)
	counted, have, err := readCounted(kt, ck)
	if err != nil {
		return 0, err
	}
	var applied int64
	switch {
	case delta >= 0 && !have:
		applied = delta
		if err := kt.Put(ck, be64(uint64(delta))); err != nil {
			return 0, fmt.Errorf("counting %s in %s: %w", blob, space, err)
		}
	case delta < 0 && have:
		applied = -counted
		if err := kt.Delete(ck); err != nil {
			return 0, fmt.Errorf("uncounting %s in %s: %w", blob, space, err)
		}
	}
	inv, err := tx.Invoke(Command, invocationArgs(space, blob, delta, cause))
	if err != nil {
		return 0, fmt.Errorf("usage record invocation: %w", err)
	}
	seq, err := tx.LastSeq()
	if err != nil {
		return 0, err
	}
	ts := tx.Now().UnixMilli()
	p := dag.Path{Subject: space, Collection: Name, Key: RecordKey(ts, seq+1)}
	if _, err := tx.PutEffect(p, inv, recordState(blob, applied, cause, ts)); err != nil {
		return 0, fmt.Errorf("writing usage record %s: %w", p, err)
	}
	if applied != 0 {
		if err := tx.Add(sizePrefix+space, applied); err != nil {
			return 0, fmt.Errorf("adding to the size of %s: %w", space, err)
		}
	}
	return applied, nil
}

// Size returns the size of space in bytes as tx sees it: the sum of the deltas applied.
func Size(tx *dag.Tx, space string) (int64, error) {
	v, err := tx.Counter(sizePrefix + space)
	if err != nil {
		return 0, fmt.Errorf("reading the size of %s: %w", space, err)
	}
	return v, nil
}

// Counted returns the bytes of blob counted in space, and whether it is counted.
func Counted(tx *dag.Tx, space string, blob cid.Cid) (int64, bool, error) {
	kt, err := tx.KV(CountedPrefix)
	if err != nil {
		return 0, false, err
	}
	return readCounted(kt, countedKey(space, blob))
}

// RecordKey is the key of the usage record with timestamp ts (unix ms) committed at seq.
func RecordKey(ts int64, seq uint64) string { return fmt.Sprintf("%013d-%020d", ts, seq) }

func countedKey(space string, blob cid.Cid) []byte {
	return []byte(CountedPrefix + space + "/" + blob.String())
}

func readCounted(kt kv.Tx, k []byte) (int64, bool, error) {
	v, err := kt.Get(k)
	if errors.Is(err, kv.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading usage key %s: %w", k, err)
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("%w: usage key %s holds %d bytes", ErrCorrupt, k, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), true, nil
}

func be64(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

func invocationArgs(space string, blob cid.Cid, delta int64, cause cid.Cid) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 4, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "space", qp.String(space))
		qp.MapEntry(ma, "blob", qp.Link(cidlink.Link{Cid: blob}))
		qp.MapEntry(ma, "delta", qp.Int(delta))
		qp.MapEntry(ma, "cause", qp.Link(cidlink.Link{Cid: cause}))
	})
	return n
}

func recordState(blob cid.Cid, delta int64, cause cid.Cid, ts int64) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 5, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(StatusRecorded))
		qp.MapEntry(ma, "blob", qp.Link(cidlink.Link{Cid: blob}))
		qp.MapEntry(ma, "delta", qp.Int(delta))
		qp.MapEntry(ma, "cause", qp.Link(cidlink.Link{Cid: cause}))
		qp.MapEntry(ma, "ts", qp.Int(ts))
	})
	return n
}

// Event is one usage record: blob's bytes changed the space's size by Delta at TS.
type Event struct {
	// Key is the record's key in /<space>/usage.
	Key string
	// Blob is the CAR whose bytes are counted.
	Blob cid.Cid
	// Delta is the change of the space size in bytes (0 for a repeat).
	Delta int64
	// Cause is the invocation whose receipt is the change (store done or removed).
	Cause cid.Cid
	// TS is the time of the change in unix milliseconds.
	TS int64
	// Receipt is the record's receipt (the usage entry's head), if known.
	Receipt cid.Cid
	// Seq is the commit sequence of the record's receipt, if known (orders records with
	// the same TS).
	Seq uint64
}

// ParseRecord reads a usage record state {status: "recorded", blob, delta, cause, ts}.
func ParseRecord(state datamodel.Node) (Event, error) {
	var ev Event
	if state == nil || state.Kind() != datamodel.Kind_Map {
		return ev, fmt.Errorf("%w: state is not a map", ErrInvalidRecord)
	}
	st, err := nodefield.String(state, dag.StatusKey)
	if err != nil {
		return ev, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	if st != StatusRecorded {
		return ev, fmt.Errorf("%w: status %q, want %q", ErrInvalidRecord, st, StatusRecorded)
	}
	if ev.Blob, err = nodefield.Link(state, "blob"); err != nil {
		return ev, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	if ev.Cause, err = nodefield.Link(state, "cause"); err != nil {
		return ev, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	if ev.Delta, err = nodefield.Int(state, "delta"); err != nil {
		return ev, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	if ev.TS, err = nodefield.Int(state, "ts"); err != nil {
		return ev, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	return ev, nil
}

// Events reads every usage record of space from e, in insertion order.
func Events(ctx context.Context, e *dag.Engine, space string) ([]Event, error) {
	p := dag.Path{Subject: space, Collection: Name}
	var evs []Event
	q := dag.Query{Limit: dag.MaxSelectLimit, Status: StatusRecorded}
	for {
		page, err := e.SelectPage(ctx, p, q)
		if err != nil {
			return nil, fmt.Errorf("reading usage of %s: %w", space, err)
		}
		for _, ent := range page.Entries {
			ev, err := ParseRecord(ent.State)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, ent.Path, err)
			}
			ev.Key, ev.Receipt, ev.Seq = ent.Path.Key, ent.Head, ent.Seq
			evs = append(evs, ev)
		}
		if page.Cursor == "" {
			return evs, nil
		}
		q.Cursor = page.Cursor
	}
}

// Report returns the usage Summary of space over [from, to) from the records in e.
func Report(ctx context.Context, e *dag.Engine, space string, from, to time.Time) (*Summary, error) {
	if !from.Before(to) {
		return nil, fmt.Errorf("%w: from %s is not before to %s", ErrInvalidWindow, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	}
	evs, err := Events(ctx, e, space)
	if err != nil {
		return nil, err
	}
	s, err := Compute(evs, from, to)
	if err != nil {
		return nil, err
	}
	s.Space = space
	return s, nil
}
