// Package blockindex keeps where every block of every stored CAR lives: multihash →
// (CAR CID, offset, length of the block's bytes in the CAR), so the gateway can read one
// block from blob storage by a byte range.
//
// # Writing and removing
//
// The bytes are checked and their blocks found in the single pass that stores them
// (carscan, in the fs upload endpoint); the result is staged in memory (Index.Stage) and
// written by the store machine in the transaction that moves a store entry of the CAR to
// done (Index.Done). Each done store entry of a CAR counts one reference; removing a done
// entry drops one (Removed), and when the last goes the CAR's records are deleted. A CAR
// that becomes done with nothing staged (its bytes were already held before this index
// existed, or the process restarted between upload and delivery) is indexed by Index.Build,
// which reads the CAR back from blob storage.
//
// # Keys (under Prefix, listed in dag/doc.go)
//
//	blockindex/mh/<multihash><CAR CID>    uvarint offset, uvarint length
//	blockindex/car/<CAR CID><i BE4>       the multihash of the CAR's i-th block
//	blockindex/refs/<CAR CID> (counter)   done store entries of the CAR
//
// Multihashes and binary CIDs are self-delimiting, so the concatenations are unambiguous
// and a scan of "mh/<multihash>" lists every CAR holding the block.
//
// # Export
//
// Sharded writes an upload's index in the incumbent's index/sharded/dag@0.1 format
// (docs/ARCHITECTURE.md, "The block index").
//
// Package blockindex imports dag, carscan, the blob interface and internal/capped (the
// staged scans); it must not import server, ops or cmd.
package blockindex
