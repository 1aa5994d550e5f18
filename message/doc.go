// Package message encodes and decodes w3dag agent messages: the CAR v1 files that carry
// UCAN invocations to POST /ucan and receipts back (DESIGN §3).
//
// A request message is a CAR v1 whose single root is the DAG-CBOR block
//
//	{"w3dag/message@1": {"invocations": [&Token, …]}}
//
// with the invocation tokens and their proof tokens as further blocks. A reply message has
// the root
//
//	{"w3dag/message@1": {"receipts": {"<invocation CID>": &Receipt, …}}}
//
// plus the receipt blocks. Both the server and the Go client use this package, so it deals
// in CIDs and raw block bytes only: decoding the tokens themselves is the ucan package's job.
//
// Besides CAR, any set of blocks can be rendered as DAG-JSON (EncodeJSON / DecodeJSON):
//
//	{"roots": [{"/": "<cid>"}], "blocks": [{"cid": {"/": "<cid>"}, "data": <block as data>}]}
//
// where each DAG-CBOR block appears as the data it encodes (bytes as {"/": {"bytes": …}}),
// and raw blocks as bytes. DecodeJSON re-encodes each block and checks it hashes to its CID.
//
// Decoding reads the canonical forms of the CAR header, the sections and the root by hand
// (fast.go) and hands anything else to go-car and go-ipld-prime, so that what it accepts
// and every error it returns are theirs; encoding writes the bytes go-ipld-prime writes.
// The fuzz tests hold the hand-written paths to those references.
//
// Of w3dag's own packages it imports only cbor, the canonical DAG-CBOR writer and head
// reader (a leaf); besides it depends on go-cid, go-car/v2, go-ipld-prime and
// go-multihash only.
package message
