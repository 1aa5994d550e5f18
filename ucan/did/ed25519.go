package did

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"

	"github.com/w3dag/w3dag/ucan/varsig"
)

var ed25519Header = varsig.MustEncode(varsig.Ed25519)

type ed25519Verifier struct {
	pub ed25519.PublicKey
	did string
}

func newEd25519Verifier(key []byte) (*ed25519Verifier, error) {
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: Ed25519 public key is %d bytes, want %d", ErrInvalidDID, len(key), ed25519.PublicKeySize)
	}
	pub := ed25519.PublicKey(append([]byte(nil), key...))
	return &ed25519Verifier{pub: pub, did: format(CodeEd25519Pub, pub)}, nil
}

func (v *ed25519Verifier) DID() string          { return v.did }
func (v *ed25519Verifier) VarsigHeader() []byte { return ed25519Header }
func (v *ed25519Verifier) Verify(msg, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(v.pub, msg, sig)
}

type ed25519Signer struct {
	*ed25519Verifier
	priv ed25519.PrivateKey
}

// GenerateEd25519 returns a new random Ed25519 signer.
func GenerateEd25519() (Signer, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("generating Ed25519 key: %w", err)
	}
	return Ed25519FromSeed(seed)
}

// Ed25519FromSeed returns the Ed25519 signer for a 32-byte RFC 8032 seed.
func Ed25519FromSeed(seed []byte) (Signer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: Ed25519 seed is %d bytes, want %d", ErrInvalidPrivateKey, len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	v, err := newEd25519Verifier(priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return &ed25519Signer{ed25519Verifier: v, priv: priv}, nil
}

func (s *ed25519Signer) Sign(msg []byte) ([]byte, error) {
	return ed25519.Sign(s.priv, msg), nil
}
