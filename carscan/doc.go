// Package carscan checks that a byte stream is a well-formed CARv1 and records where each
// block lives, in one pass over the bytes.
//
// A CARv1 is a header — a varint length, then DAG-CBOR {roots: [CID…], version: 1} — and
// then sections, each a varint length followed by a CID and the block's bytes. Scan reads
// the header (any roots are accepted: they need not be blocks of the CAR, and the list may
// be empty), then every section, hashes each block with the hash function its CID names
// (any function go-multihash supports; identity CIDs are checked too) and fails at the
// first block whose bytes do not match its CID. For each block it records the multihash,
// and the offset and length of the block's bytes (after the CID) within the stream, which
// is what the block index stores.
//
// Errors name what was wrong and where: ErrNotCAR (the header), ErrMismatch (a block's
// bytes and its CID), ErrTruncated (the stream ends inside the header or a section),
// ErrTooLarge (a limit below), each wrapped with the block number and CID when there is
// one: "block 17 (bafy…) does not match its CID".
//
// Reader scans the bytes while another consumer (a blob store's Put, which hashes the
// whole CAR) reads them: the scan runs in a goroutine of its own, so block hashing and the
// whole-CAR hash use two cores, and the bytes are read once.
//
// Package carscan imports only go-cid, go-multihash, go-varint, go-ipld-prime (the
// DAG-CBOR header) and the standard library; it must not import anything of ours.
package carscan
