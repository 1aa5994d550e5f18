// Package blobtest is the contract suite every blob.Store backend must pass: Run it from the
// backend's own tests with a function that opens a fresh, empty store.
//
// It checks put/get/stat/delete, listing by prefix in key order, size and SHA-256
// verification on Put (a rejected Put stores nothing and leaves an earlier blob intact),
// byte ranges, key validation, a large streamed Put with bounded memory, concurrent Puts of
// one key, and, for stores that implement blob.Presigner, presigned uploads performed with
// net/http, and for stores that implement blob.Batcher, batch writes.
//
// RunOptions holds the list of checks; each check lives in the file of its concern
// (putget.go, list.go, verify.go, ranges.go, keys.go, large.go, presign.go, batch.go), on
// the helpers in helpers.go.
//
// This package imports only package blob of w3dag's own.
package blobtest
