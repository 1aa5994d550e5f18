package metrics

import (
	"context"
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

// counterName is the kv counter of a metric of a subject.
func counterName(subject, name string) string { return counterPrefix + subject + "/" + name }

// Add adds delta to the counter name of subject (a space DID or the service DID) in tx,
// so it commits with the change it counts. Callers count a change once for the space and
// once for the service (tx.Service()).
func Add(tx *dag.Tx, subject, name string, delta int64) error {
	if err := checkSubject(subject); err != nil {
		return err
	}
	if err := CheckName(name); err != nil {
		return err
	}
	if err := tx.Add(counterName(subject, name), delta); err != nil {
		return fmt.Errorf("adding to metric %s of %s: %w", name, subject, err)
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

// Get returns the counter name of subject as tx sees it (0 if never added to).
func Get(tx *dag.Tx, subject, name string) (int64, error) {
	if err := checkSubject(subject); err != nil {
		return 0, err
	}
	if err := CheckName(name); err != nil {
		return 0, err
	}
	v, err := tx.Counter(counterName(subject, name))
	if err != nil {
		return 0, fmt.Errorf("reading metric %s of %s: %w", name, subject, err)
	}
	return v, nil
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
