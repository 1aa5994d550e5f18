package dag

import (
	"context"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

// Machine is the state machine of a collection (store, upload, … and RecordMachine for
// schema-only collections). The engine applies DESIGN §2's rules and calls these hooks
// inside the operation's transaction; each returns the entry's new state (a map with a
// string "status") or an error.
//
// An error that is (or wraps) an *Error fails the operation with an error receipt; a
// machine must return such a failure before it writes anything through the Tx (if it
// wrote, the engine rolls the operation back and records only the failure). Any other
// error is an internal failure: the operation returns it without a receipt.
//
// Hooks may run more than once for one operation (the group commit retries a batch when
// another operation in it fails), so they must have no effects outside the Tx.
type Machine interface {
	// Start returns the state of a new entry at p for the input in: there was no entry,
	// or prev is failed, expired or removed (then prev is that entry).
	Start(tx *Tx, p Path, in datamodel.Node, prev *Entry) (datamodel.Node, error)
	// Same is called for a put of the value the live entry e already holds. It returns
	// the advanced state and true (a new receipt), or false to leave the entry as is
	// (the head receipt is returned).
	Same(tx *Tx, e *Entry) (datamodel.Node, bool, error)
	// Update is called for a put of a different value on the live entry e. It returns
	// the new state, or ErrEntryExists when the machine accepts no update. Returning a
	// state equal to e.State leaves the entry as is.
	Update(tx *Tx, e *Entry, in datamodel.Node) (datamodel.Node, error)
	// Remove returns the removed state of e (status "removed").
	Remove(tx *Tx, e *Entry) (datamodel.Node, error)
}

// Transitioner is implemented by machines that accept system transitions (delivery,
// expiry, task results). Transition returns the new state, or nil to leave the entry as
// is; ErrInvalidTransition (wrapped) when the event does not apply in e's state.
type Transitioner interface {
	Transition(tx *Tx, e *Entry, event string, data datamodel.Node) (datamodel.Node, error)
}

// Preparer is implemented by machines that do slow work (I/O) for a put before its
// transaction, in the caller's goroutine: whether a blob is held, say. What Prepare
// returns is available to the hooks as Tx.Prepared. An *Error fails the put.
type Preparer interface {
	Prepare(ctx context.Context, p Path, in datamodel.Node) (any, error)
}

// RecordMachine is the generic record machine of schema-only collections: put →
// {status: "done", value: <value>}, a same-value put changes nothing, a different value
// on a live entry is ErrEntryExists, remove → {status: "removed"}.
type RecordMachine struct{}

var _ Machine = RecordMachine{}

// Start returns {status: "done", value: in}.
func (RecordMachine) Start(_ *Tx, _ Path, in datamodel.Node, _ *Entry) (datamodel.Node, error) {
	return qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, StatusKey, qp.String(StatusDone))
		qp.MapEntry(ma, "value", qp.Node(in))
	})
}

// Same leaves the entry as is.
func (RecordMachine) Same(_ *Tx, e *Entry) (datamodel.Node, bool, error) { return e.State, false, nil }

// Update refuses: ErrEntryExists.
func (RecordMachine) Update(_ *Tx, e *Entry, _ datamodel.Node) (datamodel.Node, error) {
	return nil, failure(ErrEntryExists, "%s holds another value; remove it first", e.Path)
}

// Remove returns {status: "removed"}.
func (RecordMachine) Remove(_ *Tx, _ *Entry) (datamodel.Node, error) { return RemovedState(), nil }

// RemovedState returns {status: "removed"}.
func RemovedState() datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, StatusKey, qp.String(StatusRemoved))
	})
	return n
}
