// Package bolt is the embedded kv.Store of w3dag, backed by bbolt (go.etcd.io/bbolt): one
// file, one writer at a time, many concurrent readers over consistent snapshots. Plain keys
// and counters live in separate buckets; counters are 8-byte big-endian two's-complement
// integers.
//
// Every Update is one bbolt read-write transaction, committed (and, unless
// Options.NoSync, fsynced) before Update returns. The engine above coalesces many
// operations into one Update (group commit), so this package does no batching of its own.
//
// Do not wait for an Update from inside a View or Update function: Updates run one at a
// time, and an Update that has to grow the memory map waits for open read transactions
// (rare: by default the map reserves DefaultInitialMmapSize, see Options.InitialMmapSize).
//
// This package imports only kv (and bbolt); nothing else of w3dag's.
package bolt
