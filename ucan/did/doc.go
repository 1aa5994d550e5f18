// Package did parses did:key identifiers into signature verifiers and holds the signing keys
// of principals: Ed25519 (sign and verify), P-256 and secp256k1 (sign and verify), plus the
// base64 private-key file format used by the UCAN spec fixtures.
//
// It imports only the standard library, decred secp256k1, base58 and ucan/varsig; it must
// not import any other w3dag package.
package did
