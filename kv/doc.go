// Package kv defines the narrow, ordered, transactional key-value interface that all
// durable state of w3dag lives behind: entry heads, receipt blocks, indexes, counters, the
// task queue and the commit log.
//
// Backends live in sub-packages named after their technology (kv/pebble, kv/bolt, kv/postgres,
// kv/mem); kv/kvtest is the contract suite every backend must pass. Pipeliner is an optional
// capability (kv/pebble has it): a transaction's writes applied, and read by the next
// transaction, before they are durable, with a wait for their durability. Prefetcher is an
// optional capability of a Tx (kv/postgres has it): many keys read in one request, later
// Gets of them answered from the transaction's memory.
//
// This package imports nothing of w3dag's own.
package kv
