// Package cidtext spells CIDs as text, as cid.Cid.String does (multibase base32, 'b', for
// CIDv1; base58btc for CIDv0), but from a CID's bytes and without go-multibase's
// allocations: the engine spells task and invocation CIDs in kv keys on every write
// (package dag), and the JSON log exporter every link of every line (archive/logs).
//
// It imports only the standard library, go-cid and go-multihash, nothing of w3dag's.
package cidtext
