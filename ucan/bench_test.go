package ucan_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// benchChain returns an invocation with a two-proof chain (space → agent → device) and
// its proofs, all Ed25519.
func benchChain(b *testing.B) (*ucan.Token, ucan.Proofs) {
	b.Helper()
	space, _ := did.Ed25519FromSeed(make([]byte, 32))
	agent, _ := did.Ed25519FromSeed(append(make([]byte, 31), 1))
	device, _ := did.Ed25519FromSeed(append(make([]byte, 31), 2))
	root := delegate(b, space, agent.DID(), space.DID(), "/dag")
	leaf := delegate(b, agent, device.DID(), space.DID(), "/dag/put")
	inv := invoke(b, device, space.DID(), "/dag/put", argsMap(b, "path", "store/bag1"), root, leaf)
	return inv, ucan.NewProofs(root, leaf)
}

// BenchmarkEd25519VerifyRaw is the baseline: crypto/ed25519.Verify over the signed bytes
// of a sealed delegation.
func BenchmarkEd25519VerifyRaw(b *testing.B) {
	inv, proofs := benchChain(b)
	tok := proofs[inv.Invocation.Proofs[0]]
	// The root is signed by the space key, seed 0^32.
	pub := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	msg, sig := tok.SignedBytes(), tok.Signature
	b.SetBytes(int64(len(tok.Raw)))
	b.ResetTimer()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
}

// BenchmarkVerifyEnvelope decodes a sealed delegation from bytes (structure, canonical
// check, CID) and verifies its signature, i.e. what a server does per received token.
func BenchmarkVerifyEnvelope(b *testing.B) {
	inv, proofs := benchChain(b)
	raw := proofs[inv.Invocation.Proofs[0]].Raw
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for b.Loop() {
		tok, err := ucan.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		if err := tok.VerifySignature(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateCachedChain validates an invocation (signature included) whose two
// proofs are already in the validator's verified cache: "validate" starts from a decoded
// token, "decode+validate" from its bytes.
func BenchmarkValidateCachedChain(b *testing.B) {
	inv, proofs := benchChain(b)
	v := ucan.NewValidator(ucan.ValidatorOptions{Now: func() time.Time { return time.Unix(testNow, 0) }})
	if err := v.Validate(inv, proofs); err != nil {
		b.Fatal(err)
	}
	b.Run("validate", func(b *testing.B) {
		for b.Loop() {
			if err := v.Validate(inv, proofs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode+validate", func(b *testing.B) {
		for b.Loop() {
			tok, err := ucan.Decode(inv.Raw)
			if err != nil {
				b.Fatal(err)
			}
			if err := v.Validate(tok, proofs); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeEnvelope isolates the decoding share of BenchmarkVerifyEnvelope:
// structure, canonical check, payload fields and CID, without the signature.
func BenchmarkDecodeEnvelope(b *testing.B) {
	inv, proofs := benchChain(b)
	raw := proofs[inv.Invocation.Proofs[0]].Raw
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := ucan.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}
