package task

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
)

const (
	// Name is the service collection of task entries.
	Name = "task"
	// PathArg is the invocation argument that carries Task.Path.
	PathArg = "path"
	// Statuses of task entries (the schema's TaskStatus).
	StatusQueued  = "queued"
	StatusRunning = "running"
	StatusDone    = dag.StatusDone
	StatusFailed  = dag.StatusFailed

	// QueuePrefix keys the due index: QueuePrefix<time ms BE8><task CID bytes>.
	QueuePrefix = "taskq/"
)

// Collection returns the task collection: a service collection keyed by the CID of each
// task's invocation, written only by the service (Schedule and the Runner), with no
// machine of its own.
func Collection() dag.Collection {
	return dag.Collection{Spec: collection.Spec{Name: Name, Subjects: collection.Service, Key: collection.KeyCID, Writers: collection.ServiceOnly, Type: "TaskEntry"}}
}

// Task is an effect to run later.
type Task struct {
	// Cmd is the command of the task's invocation, e.g. "/store/expire"; a Handler is
	// registered for it.
	Cmd string
	// Args are the invocation's arguments, a map (nil is {}).
	Args datamodel.Node
	// RunAt is the earliest time the task may run; the zero value is now.
	RunAt time.Time
	// Path is the entry the task acts on, if any; it is added to Args as "path" (the
	// absolute path string), see PathOf.
	Path dag.Path
}

// Schedule schedules t in tx, the transaction of the change that causes it: it stores the
// task's self-issued invocation, writes the entry /<service>/task/<invocation CID> as
// queued and indexes it as due at RunAt. If tx rolls back, there is no task. It returns
// the invocation's CID, the entry key.
func Schedule(tx *dag.Tx, t Task) (cid.Cid, error) {
	if !strings.HasPrefix(t.Cmd, "/") || len(t.Cmd) < 2 {
		return cid.Undef, fmt.Errorf("%w: command %q must start with / and name something", ErrInvalidTask, t.Cmd)
	}
	args, err := taskArgs(t)
	if err != nil {
		return cid.Undef, err
	}
	inv, err := tx.Invoke(t.Cmd, args)
	if err != nil {
		return cid.Undef, fmt.Errorf("scheduling %s: %w", t.Cmd, err)
	}
	runAt := t.RunAt
	if runAt.IsZero() {
		runAt = tx.Now()
	}
	ms := runAt.UnixMilli()
	if _, err := tx.Put(entryPath(tx.Service(), inv.CID), inv.CID, queuedState(0, ms)); err != nil {
		return cid.Undef, fmt.Errorf("scheduling %s: %w", t.Cmd, err)
	}
	kt, err := tx.KV(QueuePrefix)
	if err != nil {
		return cid.Undef, fmt.Errorf("scheduling %s: %w", t.Cmd, err)
	}
	if err := kt.Put(queueKey(ms, inv.CID), nil); err != nil {
		return cid.Undef, fmt.Errorf("scheduling %s: indexing: %w", t.Cmd, err)
	}
	return inv.CID, nil
}

// PathOf returns the path a task acts on: the "path" argument of its invocation args.
func PathOf(args datamodel.Node) (dag.Path, error) {
	if args == nil || args.Kind() != datamodel.Kind_Map {
		return dag.Path{}, fmt.Errorf("%w: arguments are not a map", ErrInvalidTask)
	}
	v, err := args.LookupByString(PathArg)
	if err != nil || v == nil {
		return dag.Path{}, fmt.Errorf("%w: no %q argument", ErrInvalidTask, PathArg)
	}
	s, err := v.AsString()
	if err != nil {
		return dag.Path{}, fmt.Errorf("%w: %q argument is not a string", ErrInvalidTask, PathArg)
	}
	p, err := dag.ParsePath(s)
	if err != nil {
		return dag.Path{}, fmt.Errorf("%w: %q argument: %w", ErrInvalidTask, PathArg, err)
	}
	return p, nil
}

func taskArgs(t Task) (datamodel.Node, error) {
	if t.Args != nil && t.Args.Kind() != datamodel.Kind_Map {
		return nil, fmt.Errorf("%w: arguments of %s are a %s, not a map", ErrInvalidTask, t.Cmd, t.Args.Kind())
	}
	if t.Path.Subject == "" {
		if t.Args == nil {
			return qp.BuildMap(basicnode.Prototype.Map, 0, func(datamodel.MapAssembler) {})
		}
		return t.Args, nil
	}
	type kv struct {
		k string
		v datamodel.Node
	}
	var entries []kv
	if t.Args != nil {
		it := t.Args.MapIterator()
		for !it.Done() {
			k, v, err := it.Next()
			if err != nil {
				return nil, fmt.Errorf("%w: arguments of %s: %w", ErrInvalidTask, t.Cmd, err)
			}
			ks, err := k.AsString()
			if err != nil {
				return nil, fmt.Errorf("%w: arguments of %s: non-string key", ErrInvalidTask, t.Cmd)
			}
			if ks == PathArg {
				return nil, fmt.Errorf("%w: arguments of %s already have %q and Path is set", ErrInvalidTask, t.Cmd, PathArg)
			}
			entries = append(entries, kv{ks, v})
		}
	}
	return qp.BuildMap(basicnode.Prototype.Map, int64(len(entries))+1, func(ma datamodel.MapAssembler) {
		for _, e := range entries {
			qp.MapEntry(ma, e.k, qp.Node(e.v))
		}
		qp.MapEntry(ma, PathArg, qp.String(t.Path.String()))
	})
}

// Path is the task entry of the task whose invocation is c: /<service>/task/<c>.
func Path(service string, c cid.Cid) dag.Path { return entryPath(service, c) }

func entryPath(service string, c cid.Cid) dag.Path {
	return dag.Path{Subject: service, Collection: Name, Key: c.String()}
}

func queueKey(ms int64, c cid.Cid) []byte {
	if ms < 0 {
		ms = 0
	}
	k := make([]byte, 0, len(QueuePrefix)+8+c.ByteLen())
	k = append(k, QueuePrefix...)
	k = binary.BigEndian.AppendUint64(k, uint64(ms))
	return append(k, c.Bytes()...)
}

// queueEnd is the first key after the tasks due at or before ms.
func queueEnd(ms int64) []byte {
	if ms < 0 {
		ms = -1
	}
	k := append([]byte(QueuePrefix), make([]byte, 8)...)
	binary.BigEndian.PutUint64(k[len(QueuePrefix):], uint64(ms+1))
	return k
}

func parseQueueKey(k []byte) (int64, cid.Cid, error) {
	if len(k) <= len(QueuePrefix)+8 {
		return 0, cid.Undef, fmt.Errorf("%w: queue key of %d bytes", ErrCorrupt, len(k))
	}
	ms := int64(binary.BigEndian.Uint64(k[len(QueuePrefix):]))
	c, err := cid.Cast(k[len(QueuePrefix)+8:])
	if err != nil {
		return 0, cid.Undef, fmt.Errorf("%w: queue key: %w", ErrCorrupt, err)
	}
	return ms, c, nil
}

func queuedState(attempts, notBefore int64) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(StatusQueued))
		if attempts > 0 {
			qp.MapEntry(ma, "attempts", qp.Int(attempts))
		}
		qp.MapEntry(ma, "notBefore", qp.Int(notBefore))
	})
	return n
}

func runningState(lease int64, owner string, attempts int64) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 4, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(StatusRunning))
		qp.MapEntry(ma, "lease", qp.Int(lease))
		qp.MapEntry(ma, "owner", qp.String(owner))
		if attempts > 0 {
			qp.MapEntry(ma, "attempts", qp.Int(attempts))
		}
	})
	return n
}

func failedState(attempts int64, msg string) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(StatusFailed))
		qp.MapEntry(ma, "attempts", qp.Int(attempts))
		qp.MapEntry(ma, "error", qp.String(msg))
	})
	return n
}
