// Package kvtest is the contract suite for kv.Store backends. Every backend runs it from its
// own _test.go:
//
//	func TestContract(t *testing.T) {
//		kvtest.Run(t, func(t *testing.T) kv.Store { return openTestStore(t) })
//	}
//
// Durable backends pass a Backend with a Reopen hook to RunBackend so that the suite also
// checks that committed data survives closing and reopening the store.
//
// The suite covers reads and writes, size limits, ordered scans, read-only views, rollback,
// snapshot isolation of views, serialisability of concurrent updates (lost updates and
// write skew), counters, closing and persistence, and, for backends that are
// kv.Pipeliners, the pipelining contract (applied writes read by the next transaction, not
// by View until durable; durability in order; a failed sync reported to every later wait),
// with Backend.Hold for the cases that hold syncs up; and, for backends whose transactions
// are kv.Prefetchers, that Gets of prefetched keys return what they would have without the
// prefetch (values, absent keys, the transaction's writes before and after it).
//
// Get and Has read one key of a store in a View, for tests of packages that write through
// a kv.Store and check what it holds.
//
// This package imports only kv and the standard library (testing); nothing else of w3dag's.
package kvtest
