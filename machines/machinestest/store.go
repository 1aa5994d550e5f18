package machinestest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/machines/usage"
	"github.com/w3dag/w3dag/ucan"
)

const (
	// ExpireCmd is the command of the expiry task StoreLike schedules for queued entries.
	ExpireCmd = "/test/store/expire"
	// ExpireAfter is how long a StoreLike entry may stay queued.
	ExpireAfter = time.Hour
	// SizePrefix keys the size StoreLike was given for an entry: SizePrefix<space>/<cid>.
	SizePrefix = "teststore/size/"
)

// StoreLike is a test stand-in for the store machine, writing usage and metrics exactly as
// DESIGN §4 says the store machine does:
//
//   - put {link, size}: an odd size is "held already" → done at once; an even size →
//     queued, with an expiry task scheduled ExpireAfter later (task.Schedule);
//   - the same value again on a queued entry → done ("the bytes arrived");
//   - a different value on a live entry → EntryExists;
//   - reaching done: usage.Record(+size) and store/add-total, store/add-size-total (space
//     and service), all in the operation's transaction;
//   - remove of a done entry: usage.Record(−size) and store/remove-total,
//     store/remove-size-total; of a queued one: removed;
//   - like a careless store machine, it also records +size on a repeat put of a done
//     entry and −size on the removal of an entry never done, and fails the operation
//     unless usage applies 0 to those;
//   - transition "expire" of a queued entry → expired.
//
// The size of each entry is kept in a kv key of its own (the schema's store states carry
// no size).
type StoreLike struct{}

var (
	_ dag.Machine      = StoreLike{}
	_ dag.Transitioner = StoreLike{}
)

func status(s string) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(s))
	})
	return n
}

func parseStore(in datamodel.Node) (cid.Cid, int64, error) {
	ln, err := in.LookupByString("link")
	if err != nil {
		return cid.Undef, 0, dag.Failf(dag.ErrInvalidValue.Name, "no link")
	}
	l, err := ln.AsLink()
	if err != nil {
		return cid.Undef, 0, dag.Failf(dag.ErrInvalidValue.Name, "link is not a link")
	}
	sn, err := in.LookupByString("size")
	if err != nil {
		return cid.Undef, 0, dag.Failf(dag.ErrInvalidValue.Name, "no size")
	}
	size, err := sn.AsInt()
	if err != nil || size < 0 {
		return cid.Undef, 0, dag.Failf(dag.ErrInvalidValue.Name, "size is not a non-negative integer")
	}
	return l.(cidlink.Link).Cid, size, nil
}

func sizeKey(p dag.Path) []byte { return []byte(SizePrefix + p.Subject + "/" + p.Key) }

func entrySize(tx *dag.Tx, p dag.Path) (int64, error) {
	kt, err := tx.KV(SizePrefix)
	if err != nil {
		return 0, err
	}
	v, err := kt.Get(sizeKey(p))
	if errors.Is(err, kv.ErrNotFound) {
		return 0, fmt.Errorf("%w: no size for %s", dag.ErrCorrupt, p)
	}
	if err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func blobOf(p dag.Path) (cid.Cid, error) { return cid.Decode(p.Key) }

// done records the usage and metrics of p reaching done.
func done(tx *dag.Tx, p dag.Path, cause cid.Cid) error {
	size, err := entrySize(tx, p)
	if err != nil {
		return err
	}
	blob, err := blobOf(p)
	if err != nil {
		return err
	}
	if _, err := usage.Record(tx, p.Subject, blob, size, cause); err != nil {
		return err
	}
	if err := metrics.AddBoth(tx, p.Subject, metrics.StoreAddTotal, 1); err != nil {
		return err
	}
	return metrics.AddBoth(tx, p.Subject, metrics.StoreAddSizeTotal, size)
}

// Start implements dag.Machine.
func (StoreLike) Start(tx *dag.Tx, p dag.Path, in datamodel.Node, _ *dag.Entry) (datamodel.Node, error) {
	_, size, err := parseStore(in)
	if err != nil {
		return nil, err
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(size))
	kt, err := tx.KV(SizePrefix)
	if err != nil {
		return nil, err
	}
	if err := kt.Put(sizeKey(p), b[:]); err != nil {
		return nil, err
	}
	if size%2 == 1 {
		if err := done(tx, p, tx.Invocation().CID); err != nil {
			return nil, err
		}
		return status(dag.StatusDone), nil
	}
	if _, err := task.Schedule(tx, task.Task{Cmd: ExpireCmd, RunAt: tx.Now().Add(ExpireAfter), Path: p}); err != nil {
		return nil, err
	}
	return status("queued"), nil
}

// Same implements dag.Machine: queued → done.
func (StoreLike) Same(tx *dag.Tx, e *dag.Entry) (datamodel.Node, bool, error) {
	if e.Status == dag.StatusDone {
		// Seen again: counting it again must add 0 (usage is idempotent per blob).
		if err := recordAgain(tx, e.Path, 1); err != nil {
			return nil, false, err
		}
	}
	if e.Status != "queued" {
		return e.State, false, nil
	}
	if err := done(tx, e.Path, tx.Invocation().CID); err != nil {
		return nil, false, err
	}
	return status(dag.StatusDone), true, nil
}

// Update implements dag.Machine: EntryExists.
func (StoreLike) Update(_ *dag.Tx, e *dag.Entry, _ datamodel.Node) (datamodel.Node, error) {
	return nil, dag.Failf(dag.ErrEntryExists.Name, "%s holds another value", e.Path)
}

// Remove implements dag.Machine.
func (StoreLike) Remove(tx *dag.Tx, e *dag.Entry) (datamodel.Node, error) {
	if e.Status == dag.StatusDone {
		size, err := entrySize(tx, e.Path)
		if err != nil {
			return nil, err
		}
		blob, err := blobOf(e.Path)
		if err != nil {
			return nil, err
		}
		if _, err := usage.Record(tx, e.Path.Subject, blob, -size, tx.Invocation().CID); err != nil {
			return nil, err
		}
		if err := metrics.AddBoth(tx, e.Path.Subject, metrics.StoreRemoveTotal, 1); err != nil {
			return nil, err
		}
		if err := metrics.AddBoth(tx, e.Path.Subject, metrics.StoreRemoveSizeTotal, size); err != nil {
			return nil, err
		}
	} else if err := recordAgain(tx, e.Path, -1); err != nil {
		// Never counted: uncounting it must subtract 0.
		return nil, err
	}
	return dag.RemovedState(), nil
}

// recordAgain records the entry's size with sign for a blob whose count must not change
// (a repeat of a done entry, a removal of one never done), as a careless store machine
// would: usage must apply 0.
func recordAgain(tx *dag.Tx, p dag.Path, sign int64) error {
	size, err := entrySize(tx, p)
	if err != nil {
		return err
	}
	blob, err := blobOf(p)
	if err != nil {
		return err
	}
	applied, err := usage.Record(tx, p.Subject, blob, sign*size, tx.Invocation().CID)
	if err != nil {
		return err
	}
	if applied != 0 {
		return fmt.Errorf("usage applied %d to %s, which is already counted as it should be", applied, p)
	}
	return nil
}

// Transition implements dag.Transitioner: "expire" moves a queued entry to expired.
func (StoreLike) Transition(_ *dag.Tx, e *dag.Entry, event string, _ datamodel.Node) (datamodel.Node, error) {
	if event != "expire" {
		return nil, dag.Failf(dag.ErrInvalidTransition.Name, "unknown event %q", event)
	}
	if e.Status != "queued" {
		return nil, dag.Failf(dag.ErrInvalidTransition.Name, "%s is %s, not queued", e.Path, e.Status)
	}
	return status(dag.StatusExpired), nil
}

// ExpireHandler is the task handler of ExpireCmd: it expires the task's path through
// the engine with the task's invocation; an entry that is no longer queued has nothing
// to expire.
func ExpireHandler(e *dag.Engine) task.Handler {
	return func(ctx context.Context, inv *ucan.Token) error {
		p, err := task.PathOf(inv.Invocation.Args)
		if err != nil {
			return task.Permanent(err)
		}
		res, err := e.Transition(ctx, inv, p, "expire", nil)
		if err != nil {
			return err
		}
		if res.Err != nil && !errors.Is(res.Err, dag.ErrInvalidTransition) {
			return task.Permanent(res.Err)
		}
		return nil
	}
}
