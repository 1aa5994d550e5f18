// Package machinestest helps test the machines: an engine over any kv store with the
// machines of this module wired in, a store-like machine that records usage and metrics
// exactly as DESIGN §4 says the store machine does (done: +size, removed: −size), and
// invocation helpers. The property test of this package drives random interleavings of
// stores, repeats, removals, re-stores, concurrent identical stores and crashes, and
// checks usage and metrics against a brute-force recomputation from the receipts.
//
// It is for tests only. It imports dag, kv, schema, ucan and the machines; never server,
// ops or cmd.
package machinestest
