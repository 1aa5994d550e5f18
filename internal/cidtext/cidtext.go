package cidtext

import (
	"encoding/base32"
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// base32Lower is the multibase base32 ('b') alphabet, which cid.Cid.String writes CIDv1 in.
var base32Lower = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// maxStackCID bounds the CIDs Append encodes from a copy on the stack; longer ones (none
// w3dag makes: sha2-256 CIDs are 36 bytes) are encoded from a copy on the heap.
const maxStackCID = 64

// maxStackText is the length of the text of a CID of maxStackCID bytes: 'b' and base32.
const maxStackText = 1 + (maxStackCID*8+4)/5

// Append appends to b the string form of the CID whose bytes are c (cid.Cid.Bytes or
// KeyString), the text cid.Cid.String returns for it: base58btc for a CIDv0 (a bare
// sha2-256 multihash), otherwise 'b' and base32. c must be a valid CID (cid.Cast accepts
// it); other bytes are spelt as if they were a CIDv1.
func Append[T string | []byte](b []byte, c T) []byte {
	if len(c) == 34 && c[0] == multihash.SHA2_256 && c[1] == 32 {
		// A copy: converting c itself would move a caller's array of it to the heap,
		// whatever the CID.
		mh := make(multihash.Multihash, len(c))
		copy(mh, c)
		return append(b, cid.NewCidV0(mh).String()...)
	}
	b = append(b, 'b')
	if len(c) > maxStackCID {
		return base32Lower.AppendEncode(b, []byte(c))
	}
	var raw [maxStackCID]byte
	n := copy(raw[:], c)
	m := base32Lower.EncodedLen(n)
	b = slices.Grow(b, m)
	base32Lower.Encode(b[len(b):len(b)+m], raw[:n])
	return b[:len(b)+m]
}

// String returns c.String() in one allocation (go-multibase makes three or four); the
// undefined CID's string, like c.String(), is "b".
func String(c cid.Cid) string {
	var buf [maxStackText]byte
	return string(Append(buf[:0], c.KeyString()))
}
