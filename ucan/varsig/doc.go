// Package varsig encodes and decodes varsig headers (ChainAgnostic varsig v1.0.0), the
// self-describing signature-algorithm prefix carried in the "h" field of a UCAN 1.0 envelope.
//
// It supports the three algorithms w3dag verifies — Ed25519 (EdDSA), ES256 (ECDSA P-256) and
// ES256K (ECDSA secp256k1) — with a DAG-CBOR payload encoding, and reads the legacy v0
// Ed25519 headers (34 ed 01 71 and 34 ed 01 13 71).
//
// It imports only the standard library.
package varsig
