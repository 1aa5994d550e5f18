// Package usage keeps the usage of spaces for billing (DESIGN §4), written in the same
// transaction as the change that causes it: there is no stream whose records could be
// lost, duplicated or replayed wrongly.
//
// Record is called by the store machine when an entry reaches done (+size) and when a
// done entry is removed (−size). It self-issues a /space/usage/record invocation and
// writes a usage record entry /<space>/usage/<key> with its own receipt (state
// {status: "recorded", blob, delta, cause, ts}, the schema's UsageRecorded), and keeps the
// space's size in a kv counter. It is idempotent per (space, blob): a blob counted in a
// space adds 0 when counted again, and a removal of a blob that is not counted subtracts
// 0; a removal subtracts exactly what was counted, so store → remove → store counts the
// blob again. Records with delta 0 are written too, so the events explain every number.
//
// Record keys are "<ts>-<seq>" (unix ms and the commit sequence of the record's receipt,
// zero-padded), so they are unique and sort in time order; the collection lists in
// insertion order anyway.
//
// Report reads a space's records and Compute turns them into a Summary for [from, to):
// the size at from and at to, the exact byte·ms integral over the window (integer
// arithmetic, sizes changing at record timestamps) and the events in the window. The CLI
// computes the same Summary from records it selects over HTTP.
//
// Package usage imports dag, kv and internal/nodefield; it must not import server, ops or cmd.
package usage
