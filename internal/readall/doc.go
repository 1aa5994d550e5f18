// Package readall reads an HTTP body to its end into a buffer sized for the length it
// announces (a Content-Length), trusted for the first allocation only up to a cap: the
// one reading of the server's requests (POST /ucan) and the client's replies.
//
// It imports only the standard library, nothing of w3dag's.
package readall
