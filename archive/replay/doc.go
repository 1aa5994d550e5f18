// Package replay rebuilds the state of a w3dag service from its message archive alone
// (DESIGN §6): Load reads every archived message from blob storage (archive.Scan), pairs
// each invocation of each request message with its receipt in the reply messages, and
// orders them as they were committed (by the receipts' meta.seq: the invocation that wrote
// sequence s before those answered after s was committed); Run runs them again in that
// order through ops, each with the clock set to its receipt's meta.ts (the writes of one
// time checked together and committed in order, up to Window of them in flight, the
// engine committing many in one transaction), into an empty store opened with the
// original service key, then records which reply carried each receipt (ReplyWriters at a
// time: the engine commits many in one transaction). One of the service's own invocations
// with receipts of its own at several sequences (Step.Paced: a task of the aggregate
// machine moving pieces, in several transactions past aggregate.MovesPerTx of them) is
// run from the place of its first write, each of its transactions held back
// (dag.WithPace) until the steps before its place have run, at its own time
// (Step.TimeAfter).
// Because ed25519 signatures are deterministic, the receipts come out byte-identical when
// the inputs are the same; Run counts those that do not, and Compare finds the first
// difference between the rebuilt store and a live one.
//
// Restart: every write commits its own sequence (a transaction shared by several commits
// all of them or none), so the rebuilt store's last commit sequence says which steps are
// done (Plan.Resume); a replay killed at any point and run again goes on from there and
// ends in the same state (a paced step killed between its transactions runs again from
// its start: its handler skips what is done). The sequence cannot tell whether a task
// wrote what it writes after its last archived receipt, in transactions that take no
// sequence (an aggregate's include task ends with one when its final transition changes
// nothing): a task whose last write is the store's last sequence runs again
// (Options.Again), and writes only what is missing.
//
// What replay needs besides the archive (docs/OPERATIONS.md): the service key, the
// configuration that shapes states (public URL, upload-URL secret and TTL, aggregate
// bounds; the schema extensions are archived), and the CARs in blob storage (the block
// index a delivery wrote from the upload's scan is rebuilt by scanning them again).
//
// This package imports archive, blob, kv, message, ops, receipts, dag and ucan; the
// composition root (cmd/w3dag) builds the engine and ops it drives.
package replay
