package kv

import "context"

// Pipeliner is an optional capability of a Store: its commits can be pipelined, the
// writes of one transaction applied (so that the next transaction reads them) before they
// are durable, so that a caller with a stream of transactions runs the next one while the
// store syncs the last. kv/pebble has it; kv/bolt and kv/postgres do not (a bolt commit
// rewrites pages under its writer lock, a postgres commit is a round trip that applies and
// syncs at once). Callers test for it with a type assertion and otherwise use Update.
type Pipeliner interface {
	Store

	// UpdateApplied runs fn in a read-write transaction like Update and, when fn returns
	// nil, applies its writes without waiting for them to be durable: every transaction
	// that starts after UpdateApplied returns (Update, UpdateApplied) reads them, while
	// View sees them only once they are durable. It returns wait, which blocks until
	// they are durable and returns nil, or returns the error that kept them from being
	// durable.
	//
	// Writes become durable in the order they were applied: when wait returns nil, the
	// writes of every transaction applied before are durable too, and a transaction that
	// writes nothing has a wait that returns once what it could read is durable. A
	// failed sync fails the store: the wait of that transaction and of every one applied
	// after it returns an error, and so does every later transaction, each wrapping
	// ErrFailed.
	//
	// If fn returns an error (or panics), or the writes cannot be applied, nothing is
	// kept, UpdateApplied returns the error and wait is nil. Otherwise wait must be
	// called (Close waits for it); it may be called from any goroutine, in any order
	// with other waits, and more than once (later calls return the first's result).
	UpdateApplied(ctx context.Context, fn func(Tx) error) (wait func() error, err error)
}
