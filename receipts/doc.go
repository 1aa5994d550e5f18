// Package receipts issues, parses, verifies and walks w3dag receipts.
//
// A receipt is a UCAN 1.0 invocation envelope signed by the service: iss = sub = aud = the
// service DID, cmd "/ucan/assert/receipt", args {ran: &Invocation, out: {ok: …} |
// {error: {name, message}}, path?, origin?: &Receipt, fx?: [&Invocation]} and
// meta {ts: unix ms, seq: commit sequence}. The origin link makes the receipts of one path
// a chain that Walk follows from its head, checking every signature and that every
// receipt in the chain is about the same path.
//
// Receipts carry no nonce: two receipts with the same content are the same block.
//
// This package imports ucan and go-ipld-prime only; it must not import dag, ops, kv or
// anything that stores receipts (Walk takes a load function instead).
package receipts
