package did

import (
	"bytes"
	"crypto/ecdh"
	"testing"
)

// TestP256KeyEncoding checks the P-256 did:key against crypto/ecdh, which derives the
// public key independently: the DID of a signer made from a scalar carries the compressed
// form of ecdh's public key, and parsing that DID gives back exactly ecdh's point. Both
// parities of Y occur among the scalars, so a wrong compression prefix cannot pass.
func TestP256KeyEncoding(t *testing.T) {
	prefixes := map[byte]bool{}
	for i := 1; i <= 16; i++ {
		d := make([]byte, 32)
		d[31] = byte(i)
		d[0] = byte(i * 7) // some high bits too, not only tiny scalars
		ek, err := ecdh.P256().NewPrivateKey(d)
		if err != nil {
			t.Fatal(err)
		}
		want := ek.PublicKey().Bytes() // 0x04 || X || Y

		s, err := P256FromScalar(d)
		if err != nil {
			t.Fatal(err)
		}
		compressed := make([]byte, compressedKeySize)
		compressed[0] = 2 + want[64]&1
		copy(compressed[1:], want[1:33])
		if wantDID := format(CodeP256Pub, compressed); s.DID() != wantDID {
			t.Fatalf("scalar %x: DID %s, want %s", d, s.DID(), wantDID)
		}
		prefixes[compressed[0]] = true

		v, err := parse(s.DID())
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.(*p256Verifier).pub.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("scalar %x: parsed public key %x, want %x", d, got, want)
		}
	}
	if !prefixes[2] || !prefixes[3] {
		t.Fatalf("compression prefixes seen %v: want both 02 and 03", prefixes)
	}
}
