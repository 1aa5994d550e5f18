// Package mem is an in-memory blob.Store for tests: every blob lives in the process's heap
// and is lost when the Store is dropped. It passes the blob/blobtest contract suite.
//
// This package imports only package blob of w3dag's own.
package mem
