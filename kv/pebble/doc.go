// Package pebble is the default embedded kv.Store of w3dag, backed by the Pebble LSM
// engine (github.com/cockroachdb/pebble/v2): a directory of WAL and sorted table files,
// one writer at a time, many concurrent readers.
//
// Every Update builds an indexed batch (its own writes plus the store's latest state,
// read through) while holding the store's writer lock, so Updates are serialisable: each
// reads the writes of every Update before it. The batch is then appended to the write-ahead
// log with one synced commit (no page rewrites). The writer lock is released as soon as the
// batch is applied, before its fsync finishes, so the next Update builds its batch while
// the previous one syncs (a commit pipeline); Update still returns only once its batch is
// durable, and the log's syncs are ordered, so nothing is acknowledged that a crash could
// lose. UpdateApplied (kv.Pipeliner) is the same commit split in two: it returns once the
// batch is applied, with a wait for its sync, so that one caller (the dag engine's group
// committer) runs its next transaction while this one syncs; waits settle in commit order,
// and a failed sync fails every commit applied after it. The dag engine's group commit
// makes one transaction of many operations, so this package does no batching of its own.
//
// Views read a snapshot published only after the commit it includes is durable, so a View
// never sees a write a crash could still take back, and Views never wait for a commit or
// its fsync. Plain keys and counters live under different one-byte prefixes; counters are
// 8-byte big-endian two's-complement integers.
//
// This package imports only kv and internal/failrun (and pebble); nothing else of w3dag's.
package pebble
