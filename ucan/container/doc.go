// Package container reads and writes UCAN containers, format "ctn-v1"
// (ucan-wg/container v0.1.0): a set of sealed UCAN tokens carried together,
// for example an invocation with the delegations that prove it.
//
// A container is one header byte followed by a payload. The payload is the
// DAG-CBOR map {"ctn-v1": [token bytes, ...]}, optionally gzip-compressed,
// optionally base64-encoded (base64 is applied last). The header byte says
// which: HeaderRaw, HeaderBase64, HeaderBase64URL, HeaderRawGzip,
// HeaderBase64Gzip or HeaderBase64URLGzip.
//
// Encode sorts the tokens bytewise and drops duplicates, as the
// specification requires of writers; Decode accepts tokens in any order but
// rejects any other shape. Decode treats its input as untrusted: the
// decompressed payload is limited to MaxDecodedSize and the number of tokens
// to MaxTokens, so a small gzip bomb cannot exhaust memory.
//
// The package does not interpret the tokens. It imports the standard library and, of
// w3dag, only the cbor leaf package (the canonical DAG-CBOR writer and head reader).
package container
