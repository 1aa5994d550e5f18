// Package bolt is the embedded kv.Store of w3dag, backed by bbolt (go.etcd.io/bbolt): one
// file, one writer at a time, many concurrent readers over consistent snapshots. Plain keys
// and counters live in separate buckets; counters are 8-byte big-endian two's-complement
// integers.
//
// Every Update is one bbolt read-write transaction, committed (and, unless
// Options.NoSync, fsynced) before Update returns. The engine above coalesces many
// operations into one Update (group commit), so this package does no batching of its own.
//
// This package imports only kv (and bbolt); nothing else of w3dag's.
package bolt
