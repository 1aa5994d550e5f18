package did

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/w3dag/w3dag/ucan/varsig"
)

// compressedKeySize is the size of a SEC1 compressed P-256 or secp256k1 public key.
const compressedKeySize = 33

var (
	p256Header      = varsig.MustEncode(varsig.ES256)
	secp256k1Header = varsig.MustEncode(varsig.ES256K)
	p256HalfOrder   = new(big.Int).Rsh(elliptic.P256().Params().N, 1)
)

// --- P-256 ---

type p256Verifier struct {
	pub *ecdsa.PublicKey
	did string
}

func newP256Verifier(key []byte) (*p256Verifier, error) {
	if len(key) != compressedKeySize {
		return nil, fmt.Errorf("%w: P-256 public key is %d bytes, want %d (compressed)", ErrInvalidDID, len(key), compressedKeySize)
	}
	x, y := elliptic.UnmarshalCompressed(elliptic.P256(), key)
	if x == nil {
		return nil, fmt.Errorf("%w: P-256 public key is not a valid compressed point", ErrInvalidDID)
	}
	// SEC 1 uncompressed form: 0x04 || X || Y.
	uncompressed := make([]byte, 1+2*32)
	uncompressed[0] = 4
	x.FillBytes(uncompressed[1:33])
	y.FillBytes(uncompressed[33:])
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), uncompressed)
	if err != nil {
		return nil, fmt.Errorf("%w: P-256 public key: %v", ErrInvalidDID, err)
	}
	return &p256Verifier{pub: pub, did: format(CodeP256Pub, key)}, nil
}

// compressP256 returns the SEC 1 compressed form (0x02 or 0x03 by the parity of Y, then X)
// of an uncompressed P-256 point (0x04 || X || Y).
func compressP256(uncompressed []byte) ([]byte, error) {
	if len(uncompressed) != 1+2*32 || uncompressed[0] != 4 {
		return nil, fmt.Errorf("%w: P-256 public key is not an uncompressed point", ErrInvalidPrivateKey)
	}
	out := make([]byte, compressedKeySize)
	out[0] = 2 | uncompressed[64]&1
	copy(out[1:], uncompressed[1:33])
	return out, nil
}

func (v *p256Verifier) DID() string          { return v.did }
func (v *p256Verifier) VarsigHeader() []byte { return p256Header }
func (v *p256Verifier) Verify(msg, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	h := sha256.Sum256(msg)
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(v.pub, h[:], r, s)
}

type p256Signer struct {
	*p256Verifier
	priv *ecdsa.PrivateKey
}

// GenerateP256 returns a new random P-256 (ES256) signer.
func GenerateP256() (Signer, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating P-256 key: %w", err)
	}
	return newP256Signer(priv)
}

// P256FromScalar returns the P-256 signer for a 32-byte big-endian private scalar.
func P256FromScalar(d []byte) (Signer, error) {
	if len(d) != 32 {
		return nil, fmt.Errorf("%w: P-256 private key is %d bytes, want 32", ErrInvalidPrivateKey, len(d))
	}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return nil, fmt.Errorf("%w: P-256: %v", ErrInvalidPrivateKey, err)
	}
	return newP256Signer(priv)
}

func newP256Signer(priv *ecdsa.PrivateKey) (Signer, error) {
	pub, err := priv.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: P-256: %v", ErrInvalidPrivateKey, err)
	}
	compressed, err := compressP256(pub)
	if err != nil {
		return nil, err
	}
	v, err := newP256Verifier(compressed)
	if err != nil {
		return nil, err
	}
	return &p256Signer{p256Verifier: v, priv: priv}, nil
}

func (s *p256Signer) Sign(msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	r, ss, err := ecdsa.Sign(rand.Reader, s.priv, h[:])
	if err != nil {
		return nil, fmt.Errorf("signing with P-256: %w", err)
	}
	// Normalise to low-S so signatures are not malleable.
	if ss.Cmp(p256HalfOrder) > 0 {
		ss.Sub(elliptic.P256().Params().N, ss)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return sig, nil
}

func (s *p256Signer) scalar() ([]byte, error) {
	b, err := s.priv.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: P-256: %v", ErrInvalidPrivateKey, err)
	}
	return b, nil
}

// --- secp256k1 ---

type secp256k1Verifier struct {
	pub *secp256k1.PublicKey
	did string
}

func newSecp256k1Verifier(key []byte) (*secp256k1Verifier, error) {
	if len(key) != compressedKeySize {
		return nil, fmt.Errorf("%w: secp256k1 public key is %d bytes, want %d (compressed)", ErrInvalidDID, len(key), compressedKeySize)
	}
	pub, err := secp256k1.ParsePubKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: secp256k1 public key: %v", ErrInvalidDID, err)
	}
	return &secp256k1Verifier{pub: pub, did: format(CodeSecp256k1Pub, key)}, nil
}

func (v *secp256k1Verifier) DID() string          { return v.did }
func (v *secp256k1Verifier) VarsigHeader() []byte { return secp256k1Header }
func (v *secp256k1Verifier) Verify(msg, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:]) || r.IsZero() || s.IsZero() {
		return false
	}
	h := sha256.Sum256(msg)
	return secpecdsa.NewSignature(&r, &s).Verify(h[:], v.pub)
}

type secp256k1Signer struct {
	*secp256k1Verifier
	priv *secp256k1.PrivateKey
}

// GenerateSecp256k1 returns a new random secp256k1 (ES256K) signer.
func GenerateSecp256k1() (Signer, error) {
	priv, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return nil, fmt.Errorf("generating secp256k1 key: %w", err)
	}
	return newSecp256k1Signer(priv)
}

// Secp256k1FromScalar returns the secp256k1 signer for a 32-byte big-endian private scalar.
func Secp256k1FromScalar(d []byte) (Signer, error) {
	if len(d) != 32 {
		return nil, fmt.Errorf("%w: secp256k1 private key is %d bytes, want 32", ErrInvalidPrivateKey, len(d))
	}
	var k secp256k1.ModNScalar
	if k.SetByteSlice(d) || k.IsZero() {
		return nil, fmt.Errorf("%w: secp256k1 private scalar out of range", ErrInvalidPrivateKey)
	}
	return newSecp256k1Signer(secp256k1.NewPrivateKey(&k))
}

func newSecp256k1Signer(priv *secp256k1.PrivateKey) (Signer, error) {
	v, err := newSecp256k1Verifier(priv.PubKey().SerializeCompressed())
	if err != nil {
		return nil, err
	}
	return &secp256k1Signer{secp256k1Verifier: v, priv: priv}, nil
}

func (s *secp256k1Signer) Sign(msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	sig := secpecdsa.Sign(s.priv, h[:]) // RFC 6979, low-S
	r, ss := sig.R(), sig.S()
	out := make([]byte, 64)
	r.PutBytesUnchecked(out[:32])
	ss.PutBytesUnchecked(out[32:])
	return out, nil
}
