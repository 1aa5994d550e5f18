// Package postgres is the scale-out kv.Store of w3dag, on PostgreSQL or a PG-compatible
// distributed SQL database, through pgx/v5 (pgxpool).
//
// Layout (in Options.Schema, created if missing):
//
//	w3dag_kv          (k1 bytea, k2 bytea, h bytea, v bytea, PRIMARY KEY (k1, h))
//	w3dag_kv_counters (h bytea, shard int, k bytea, n bigint, PRIMARY KEY (h, shard))
//
// A key is split into k1, its first KeyPrefixSize bytes, and k2, the rest, with h the
// SHA-256 of k2 (empty when k2 is). PostgreSQL cannot index a value as long as MaxKeySize,
// but it can index (k1, h); ordering by (k1, k2) is exactly bytewise key order, because bytea
// compares bytewise and k2 is non-empty only when k1 is a full KeyPrefixSize bytes.
//
// Every Update is a SERIALIZABLE transaction, retried on serialization failure or deadlock
// (SQLSTATE 40001, 40P01) up to MaxAttempts times with jittered exponential backoff. Views
// are SERIALIZABLE READ ONLY DEFERRABLE transactions, which PostgreSQL never aborts for
// serialization; on databases that do, they are retried the same way.
//
// With Options.SerialWrites, Updates of every Store on the schema (in every process) also
// queue on a session advisory lock (WriteLockKey) taken before BEGIN and released after
// COMMIT. When every write transaction touches a common key — w3dag's engine writes the
// commit sequence in every commit — concurrent writers cannot all commit anyway; without
// the lock they abort one another and a long transaction can lose to shorter ones on other
// nodes until it runs out of attempts (TestMultiNode saw a store put answered 500 that
// way); with it they wait their turn and run once (TestSerialWrites). A node that dies
// holding the lock releases it with its connection; one that hangs holding it makes the
// others' Updates fail with kv.ErrConflict after WriteLockTimeout (TestWriteLockTimeout).
//
// Counters are split into CounterShards rows. Add is a blind upsert (no read) into one
// shard, chosen by the connection the transaction runs on (shards are handed to pooled
// connections round-robin as they open; a retried transaction picks a random one), so
// concurrent Adds on different connections touch different rows and do not conflict;
// Counter sums the shards. Measured by TestHotCounter (32 concurrent Updates, 4 rounds,
// 16 connections): 0 retries with per-connection shards, against about 50 with a random
// shard per Add and about 100 with a single row.
//
// Writes are buffered in the transaction: Put, Delete and Add only record the change (Get
// answers from that buffer first, so a transaction reads its own writes), and flush sends
// them as one pipelined pgx batch of array statements (unnest: one DELETE, one INSERT …
// ON CONFLICT for values, one for counter deltas, split at FlushMaxRows rows or
// FlushMaxBytes bytes) before a Scan or Counter and at commit. An Update of any size thus
// costs BEGIN, one round trip per Get of a key it has not written, one flush and COMMIT,
// instead of one round trip per key (TestRoundTripsPerCommit). The rows of a flush go in
// key order, so concurrent flushes lock common rows in the same order.
//
// Reads can be batched too: a Tx is a kv.Prefetcher, whose Prefetch reads many keys in one
// pipelined batch of array statements (a primary-key lookup per key, PrefetchMaxKeys keys
// per statement) and keeps their values and absences in the transaction, where Get answers
// from them (after the buffered writes; a write of a prefetched key drops what was read).
// The engine's committer prefetches the keys its batch's operations read first, so a batch
// costs one read round trip instead of one per operation and key (TestRoundTripsPrefetch).
//
// Scans fetch ScanPageSize rows at a time (keyset pagination), so a scan callback may read
// through the same transaction while a scan is in progress.
//
// This package imports only kv (and pgx); nothing else of w3dag's.
package postgres
