// Package mem is an in-memory kv.Store for tests: a sorted key slice with a map of values
// and a map of counters behind one readers-writer lock. Views share the lock, Updates hold
// it exclusively, so every transaction is serialisable; an Update writes in place and keeps
// an undo log that restores the previous state when its function fails or panics.
//
// Nothing is persisted; closing the store drops its data.
//
// This package imports only kv (and the standard library); nothing else of w3dag's.
package mem
