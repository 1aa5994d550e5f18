package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
)

// The counters the machines write. The store and upload counters are kept per space and
// service-wide (AddBoth); the piece and aggregate counters, of service collections, only
// service-wide (Add with tx.Service()).
const (
	// StoreAddTotal counts store entries that reached done.
	StoreAddTotal = "store/add-total"
	// StoreAddSizeTotal sums the sizes of store entries that reached done, in bytes.
	StoreAddSizeTotal = "store/add-size-total"
	// StoreRemoveTotal counts done store entries removed.
	StoreRemoveTotal = "store/remove-total"
	// StoreRemoveSizeTotal sums the sizes of done store entries removed, in bytes.
	StoreRemoveSizeTotal = "store/remove-size-total"
	// UploadAddTotal counts uploads added (a new entry, or one started again after removal).
	UploadAddTotal = "upload/add-total"
	// UploadRemoveTotal counts uploads removed.
	UploadRemoveTotal = "upload/remove-total"
	// PieceComputedTotal counts pieces that became computed (queued → computed), service-wide.
	PieceComputedTotal = "piece/computed-total"
	// AggregateReadyTotal counts aggregates that became ready, service-wide.
	AggregateReadyTotal = "aggregate/ready-total"
	// AggregateReadySizeTotal sums the payload bytes (the CARs' sizes, the members'
	// piece sizes without padding) of aggregates that became ready, service-wide.
	AggregateReadySizeTotal = "aggregate/ready-size-total"
	// AggregateDealTotal counts aggregates that a broker reported a deal for
	// (deal_pending → deal_processed), service-wide.
	AggregateDealTotal = "aggregate/deal-total"
)

// Names are the counters the machines write, in a stable order (the order /metrics
// exports them in).
var Names = []string{StoreAddTotal, StoreAddSizeTotal, StoreRemoveTotal, StoreRemoveSizeTotal, UploadAddTotal, UploadRemoveTotal,
	PieceComputedTotal, AggregateReadyTotal, AggregateReadySizeTotal, AggregateDealTotal}

// Limits on names.
const (
	// MaxNameLength is the longest metric name, in bytes.
	MaxNameLength = 128
	// Name is the name of the metrics collection of spaces and the service.
	Name = "metrics"
	// StatusCounter is the status of every metric state (the schema's MetricCounter).
	StatusCounter = "counter"
	// counterPrefix prefixes the kv counter names (inside the engine's counter namespace).
	counterPrefix = "metrics/"
)

// CheckName reports whether name is a metric name: "<group>/<counter>", two non-empty
// segments of lower-case letters, digits and '-', at most MaxNameLength bytes. Two
// segments, because a metric is read at /<did>/metrics/<group>/<counter>: the group is
// the entry key and the counter its first field.
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameLength {
		return fmt.Errorf("%w: %q: empty or longer than %d bytes", ErrInvalidName, name, MaxNameLength)
	}
	group, counter, ok := strings.Cut(name, "/")
	if !ok || group == "" || counter == "" || strings.Contains(counter, "/") {
		return fmt.Errorf("%w: %q is not <group>/<counter>", ErrInvalidName, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '/') {
			return fmt.Errorf("%w: %q has the character %q (allowed: a-z 0-9 - /)", ErrInvalidName, name, r)
		}
	}
	return nil
}

func checkSubject(subject string) error {
	if subject == "" || len(subject) > collection.MaxSubjectLength || strings.ContainsAny(subject, "/\x00") {
		return fmt.Errorf("%w: %q", ErrInvalidSubject, subject)
	}
	return nil
}

// Path is the path of the metric entry name of subject: /<subject>/metrics/<group>/<counter>
// (the key is the group, the counter the field that names the entry).
func Path(subject, name string) dag.Path {
	group, counter, _ := strings.Cut(name, "/")
	return dag.Path{Subject: subject, Collection: Name, Key: group, Fields: []string{counter}}
}

// counterName is the kv counter a metric was kept in before metrics were entries: it is
// still read for a metric that has no entry yet (a store from before), and an entry's
// first value continues from it. Nothing adds to it any more.
func counterName(subject, name string) string { return counterPrefix + subject + "/" + name }

// batchKey names the metrics' Finisher in a batch (dag.Tx.Batch).
const batchKey = "github.com/w3dag/w3dag/machines/metrics"

// counterID is a metric of a subject.
type counterID struct{ subject, name string }

// batch sums the deltas added in one group-commit batch; its Finish writes each changed
// counter once (flush).
type batch struct {
	deltas map[counterID]int64
}

func (b *batch) Finish(tx *dag.Tx) error { return flush(tx, b.deltas) }

// pendingDelta returns what tx's batch has added to the counter so far (not yet written).
func pendingDelta(tx *dag.Tx, id counterID) int64 {
	if b, ok := tx.Peek(batchKey).(*batch); ok {
		return b.deltas[id]
	}
	return 0
}

// Add adds delta to the counter name of subject (a space DID or the service DID) in tx,
// so it commits with the change it counts. The deltas of one group-commit batch are
// summed and each changed counter's entry is written once when the batch ends, with one
// receipt (see Command). Callers count a change once for the space and once for the
// service (tx.Service()). A zero delta changes nothing. In a transaction that is not a
// batch's (Engine.View) Add changes nothing either.
func Add(tx *dag.Tx, subject, name string, delta int64) error {
	if err := checkSubject(subject); err != nil {
		return err
	}
	if err := CheckName(name); err != nil {
		return err
	}
	if delta == 0 {
		return nil
	}
	f := tx.Batch(batchKey, func() dag.Finisher { return &batch{deltas: map[counterID]int64{}} })
	if b, ok := f.(*batch); ok {
		b.deltas[counterID{subject, name}] += delta
	}
	return nil
}

// AddBoth adds delta to the counter name of the space and to the service-wide one.
func AddBoth(tx *dag.Tx, space, name string, delta int64) error {
	if err := Add(tx, space, name, delta); err != nil {
		return err
	}
	return Add(tx, tx.Service(), name, delta)
}

// Get returns the counter name of subject as tx sees it, including what tx's batch has
// added so far (0 if never added to).
func Get(tx *dag.Tx, subject, name string) (int64, error) {
	if err := checkSubject(subject); err != nil {
		return 0, err
	}
	if err := CheckName(name); err != nil {
		return 0, err
	}
	v, _, err := stored(tx, subject, name)
	if err != nil {
		return 0, err
	}
	return v + pendingDelta(tx, counterID{subject, name}), nil
}

// stored returns the committed value of a counter: its entry's, or (no entry) the kv
// counter it was kept in before, and the entry (nil when none).
func stored(tx *dag.Tx, subject, name string) (int64, *dag.Entry, error) {
	ent, err := tx.EntryAt(Path(subject, name))
	switch {
	case errors.Is(err, dag.ErrNotFound):
		v, err := tx.Counter(counterName(subject, name))
		if err != nil {
			return 0, nil, fmt.Errorf("reading metric %s of %s: %w", name, subject, err)
		}
		return v, nil, nil
	case err != nil:
		return 0, nil, fmt.Errorf("reading metric %s of %s: %w", name, subject, err)
	}
	v, err := valueOf(ent.State)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: metric %s of %s: %w", ErrInvalidState, name, subject, err)
	}
	return v, ent, nil
}

func valueOf(state datamodel.Node) (int64, error) {
	n, err := state.LookupByString("value")
	if err != nil {
		return 0, err
	}
	return n.AsInt()
}

// Value returns the committed counter name of subject.
func Value(ctx context.Context, e *dag.Engine, subject, name string) (int64, error) {
	var v int64
	err := e.View(ctx, func(tx *dag.Tx) error {
		var err error
		v, err = Get(tx, subject, name)
		return err
	})
	return v, err
}

// State returns the state of a metric entry, {status: "counter", value: v}.
func State(v int64) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(StatusCounter))
		qp.MapEntry(ma, "value", qp.Int(v))
	})
	return n
}
