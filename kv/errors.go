package kv

import "errors"

var (
	// ErrNotFound is returned by Tx.Get for a key that has no value.
	ErrNotFound = errors.New("kv: key not found")
	// ErrStop, returned from a Scan callback, ends the scan without error.
	ErrStop = errors.New("kv: stop scan")
	// ErrReadOnly is returned by writes inside View.
	ErrReadOnly = errors.New("kv: write in read-only transaction")
	// ErrEmptyKey is returned by Put for an empty key.
	ErrEmptyKey = errors.New("kv: empty key")
	// ErrKeyTooLarge is returned by Put for a key longer than MaxKeySize.
	ErrKeyTooLarge = errors.New("kv: key too large")
	// ErrValueTooLarge is returned by Put for a value longer than MaxValueSize.
	ErrValueTooLarge = errors.New("kv: value too large")
	// ErrClosed is returned by transactions on a closed store.
	ErrClosed = errors.New("kv: store closed")
	// ErrConflict is wrapped by the error of an Update that a backend gave up on because
	// it kept conflicting with concurrent transactions, or waited too long for its turn
	// among them (nothing was written): the same Update may succeed later. Backends that
	// serialize the writers of one process (bolt, pebble, mem) never return it; kv/postgres
	// returns it after MaxAttempts conflicts, and with SerialWrites after WriteLockTimeout
	// waiting for the write lock.
	ErrConflict = errors.New("kv: transaction kept conflicting with concurrent ones")
	// ErrFailed is wrapped by the error of every transaction of a store that has failed a
	// commit in a way that may leave writes that are not durable (a failed fsync of a
	// pipelined commit, kv.Pipeliner): it takes no more writes until it is reopened.
	// kv/pebble returns it; stores whose failed commits leave nothing behind never do.
	// A store that fails logs the failure itself, once, at error level.
	ErrFailed = errors.New("kv: store failed")
)
