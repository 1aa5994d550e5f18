package kv

// Prefetcher is an optional capability of a Tx: it reads many keys in one request, for a
// backend where each Get is a round trip to a server (kv/postgres). A caller that knows
// which keys it is about to read (the engine's committer, the keys its batch's operations
// read first) prefetches them, and its Gets of those keys are then answered from the
// transaction's memory. kv/postgres has it; the embedded backends (kv/pebble, kv/bolt,
// kv/mem), whose Gets are local, do not. Callers test for it with a type assertion on the
// Tx and otherwise just Get.
type Prefetcher interface {
	Tx

	// Prefetch reads the values of keys (and which of them are absent) as they are at this
	// point of the transaction, in one request. A later Get of a prefetched key returns
	// what it would have returned without the prefetch: the value read, or ErrNotFound for
	// an absent key, unless the transaction has written (Put or Delete) the key since, in
	// which case Get returns the write, as always. Prefetching a key the transaction has
	// already written reads nothing for it. Keys may repeat; they are checked like Get's
	// (CheckKey), and an invalid key fails the whole call with nothing read. Prefetch
	// reads inside the transaction: a serialisable store treats the keys as read by it.
	Prefetch(keys [][]byte) error
}
