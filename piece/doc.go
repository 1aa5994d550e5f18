// Package piece computes Filecoin piece commitments (commP) and FRC-0058 data
// segment aggregates, with inclusion proofs that a verifier checks against the
// aggregate's piece CID alone.
//
// It is a leaf package: it imports nothing of ours (only go-cid, go-multihash,
// go-varint and the standard library), so the service, the CLI and a broker can
// all share it.
//
// # Piece commitments
//
// A payload of N bytes is zero-padded to 127·2^k bytes (at least 127), each
// 127-byte chunk is Fr32-expanded to 128 bytes (four 254-bit fields in 32-byte
// little-endian slots), and the 32-byte slots are the leaves of a perfect binary
// tree whose nodes are SHA-256(left‖right) with the top two bits of the digest
// cleared ("trunc254"). The root is the commitment; the tree height is
// log2(padded/32).
//
// [Compute] and [Writer] stream any [io.Reader] through that tree with O(log n)
// memory besides a few fixed-size segment buffers, hashing independent
// subtrees on every core. A [Piece] gives both CID forms:
//
//   - v2 (FRC-0069): raw codec, multihash 0x1011 fr32-sha256-trunc254-padbintree
//     with digest uvarint(padding) ‖ height ‖ root ("bafkzcib…"); it carries the
//     payload size. [FromCID] parses it back.
//   - v1 (legacy): codec 0xf101 fil-commitment-unsealed, multihash 0x1012
//     sha2-256-trunc254-padded ("baga6ea4seaq…"), which needs the padded size
//     beside it.
//
// Size vocabulary: in this package Size is the payload length in bytes and
// PaddedSize the Fr32-expanded tree size 128·2^k (Filecoin's "padded piece
// size"); the Filecoin "unpadded piece size" 127·2^k is PaddedSize/128·127.
//
// # Aggregates (FRC-0058)
//
// [NewAggregate] places pieces in a deal in the order given, each at the next
// multiple of its own padded size, writes the data segment index (64-byte
// entries with a 16-byte truncated SHA-256 checksum) at the end of the deal, and
// computes the aggregate's commitment from the pieces' roots and sizes alone,
// gaps being zero subtrees. [Aggregate.Inclusion] returns an [InclusionProof]
// (subtree proof + index entry proof) and [VerifyInclusion] checks one against
// the aggregate and piece CIDs. Proofs encode to DAG-CBOR as the tuple
// [[path, index], [path, index]] ([InclusionProof.MarshalBinary]), modelled on
// go-data-segment's InclusionProof (not checked against its encoding), and
// decode strictly ([DecodeInclusionProof]).
package piece
