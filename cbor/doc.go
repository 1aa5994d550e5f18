// Package cbor is w3dag's one canonical DAG-CBOR writer and head reader: heads, scalars,
// links, and a datamodel.Node encoder that writes map keys in canonical order (shorter
// first, then bytewise). Everything the service hashes or signs as DAG-CBOR is written
// here: an entry's state (dag), the same state inside the receipt that holds it (ucan),
// the select page block (dag), the container payload (ucan/container) and an agent
// message's root block and CAR header (message), so that the bytes of one value never
// depend on which of them wrote it. A value written more than once (an entry's state,
// which is also out.ok of its receipt) is encoded once: an Encoded node carries its
// bytes, and AppendNode splices them.
//
// The output is what go-ipld-prime's dagcbor.Encode writes for the same node (64-bit
// floats, shortest heads, definite lengths, tag 42 links with the 0x00 prefix), except
// that nodes DAG-CBOR cannot represent (NaN, infinities, invalid UTF-8, links that are not
// CIDs, nesting deeper than MaxDepth) are refused with ErrUnencodable instead of written.
//
// ReadHead is the strict head reader of untrusted input: definite lengths and shortest
// arguments only. Readers built on it (ucan's envelope decoder, the container reader)
// verify the exact bytes they received; this package has no generic decoder.
//
// The package is a leaf: it imports only the standard library, go-cid and go-ipld-prime's
// datamodel, and must not import anything of w3dag's, go-ipld-prime's codecs, node
// implementations or linking system.
package cbor
