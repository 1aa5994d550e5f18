// Package ucan implements UCAN 1.0 tokens from the specification: the signed DAG-CBOR
// envelope, delegations (including powerlines), invocations, sealing with a did.Signer, and
// validation of an invocation against its proof chain (principal alignment, subjects, time
// bounds, command coverage and policies) with a cache of already-verified delegations.
//
// Decoding is strict: a token must be canonical DAG-CBOR, at most MaxTokenSize bytes, carry
// a known payload tag and no unknown payload fields, so the signature (over the exact bytes
// received) and the CID (over the whole envelope) are unambiguous.
//
// Sub-packages: did (did:key and signing keys), varsig (signature headers), policy (the
// policy language) and container (ctn-v1 bundles).
//
// Payloads are written with package cbor, w3dag's one canonical DAG-CBOR writer, which the
// engine also encodes entry states with: a state and the same state inside its receipt are
// written by the same code. Envelopes are read by this package's strict reader (cbor.go),
// on cbor.ReadHead, and verified over the exact bytes received. Of w3dag, this package and
// its sub-packages import only the cbor leaf package and each other, nothing else.
package ucan
