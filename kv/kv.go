package kv

import "context"

// Store is an ordered, transactional, serialisable key-value store.
//
// Keys and values are arbitrary byte strings; keys order bytewise. Every Update is
// serialisable with respect to every other Update and View.
//
// Transactions do not nest: a transaction function must not call View or Update on the
// same store (or wait for another goroutine that does), since single-writer backends
// would deadlock.
type Store interface {
	// View runs fn in a read-only transaction that sees one consistent snapshot. Writes
	// through the Tx fail with ErrReadOnly. If fn returns an error, View returns it.
	View(ctx context.Context, fn func(Tx) error) error

	// Update runs fn in a read-write transaction and commits it if fn returns nil.
	// Backends with optimistic concurrency (postgres) may run fn more than once when the
	// transaction conflicts with another, so fn must have no effects outside the Tx.
	// When Update returns nil the transaction is durable. If fn returns an error (or
	// panics), nothing it wrote is kept and Update returns that error.
	Update(ctx context.Context, fn func(Tx) error) error

	// Close releases the store. Transactions in progress finish first; View and Update
	// called after Close return ErrClosed. Closing a closed store returns nil.
	Close() error
}

// Tx is one transaction. A Tx must not be used after the function it was passed to returns,
// and it is not safe for concurrent use.
type Tx interface {
	// Get returns the value at key, or ErrNotFound. The returned slice is only valid until
	// the transaction ends; copy it to keep it.
	Get(key []byte) ([]byte, error)

	// Put sets key to value. An empty key is rejected with ErrEmptyKey; keys longer than
	// MaxKeySize with ErrKeyTooLarge; values longer than MaxValueSize with ErrValueTooLarge.
	Put(key, value []byte) error

	// Delete removes key. Deleting a missing key is not an error.
	//
	// Get, Delete, Add and Counter reject empty and oversized keys like Put (see CheckKey).
	Delete(key []byte) error

	// Scan calls fn for each key in [opts.Start, opts.End) in ascending order (descending
	// when opts.Reverse), at most opts.Limit keys when Limit > 0. fn returning ErrStop ends
	// the scan and Scan returns nil; any other error ends the scan and is returned.
	// k and v are only valid during the call. fn may read through the Tx (Get, Counter,
	// nested Scan) but must not write to it: writes from inside fn fail.
	Scan(opts ScanOptions, fn func(k, v []byte) error) error

	// Add adds delta to the counter at key and returns nothing; counters live in their own
	// namespace (a counter and a plain key with the same bytes are different things).
	// Backends may split a counter into shards so that concurrent writers do not serialise
	// on one row; Counter sums them.
	Add(key []byte, delta int64) error

	// Counter returns the current value of the counter at key (0 if it was never added to).
	Counter(key []byte) (int64, error)
}

// ScanOptions selects a key range for Tx.Scan.
type ScanOptions struct {
	// Start is the first key included. Nil starts at the first key.
	Start []byte
	// End is the first key excluded. Nil scans to the last key.
	End []byte
	// Limit stops the scan after this many keys. Zero means no limit.
	Limit int
	// Reverse scans from the last key in the range down to Start.
	Reverse bool
}

// PrefixEnd returns the smallest key greater than every key that has the given prefix,
// for use as ScanOptions.End. It returns nil (no upper bound) when no such key exists.
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

const (
	// MaxKeySize is the largest key any backend accepts, in bytes.
	MaxKeySize = 4096
	// MaxValueSize is the largest value any backend accepts, in bytes (16 MiB).
	MaxValueSize = 16 << 20
)
