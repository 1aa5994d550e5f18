package varsig

import (
	"encoding/binary"
	"fmt"
)

// Multicodec codes used in varsig headers.
const (
	// Prefix is the varsig multicodec (0x34), the first byte of every header.
	Prefix = 0x34
	// Version1 is the version segment of a varsig v1 header.
	Version1 = 0x01

	codeEdDSA      = 0xed   // EdDSA signature algorithm
	codeECDSA      = 0xec   // ECDSA signature algorithm
	codeEd25519Pub = 0xed   // ed25519-pub curve
	codeP256Pub    = 0x1200 // p256-pub curve
	codeSecp256k1  = 0xe7   // secp256k1-pub curve
	codeSHA2_256   = 0x12   // sha2-256
	codeSHA2_512   = 0x13   // sha2-512

	// EncodingDAGCBOR is the payload-encoding code for DAG-CBOR, the only one UCAN uses.
	EncodingDAGCBOR = 0x71

	// MaxHeaderSize bounds the header length accepted by Decode; real headers are ≤ 11 bytes.
	MaxHeaderSize = 32
)

// Algorithm is a signature algorithm a header can name.
type Algorithm int

// The supported signature algorithms. The zero value is not a valid algorithm.
const (
	Ed25519 Algorithm = iota + 1 // EdDSA over edwards25519, SHA-512 internal hash
	ES256                        // ECDSA over P-256 with SHA-256
	ES256K                       // ECDSA over secp256k1 with SHA-256
)

// String returns the JOSE-style name of the algorithm ("Ed25519", "ES256", "ES256K").
func (a Algorithm) String() string {
	switch a {
	case Ed25519:
		return "Ed25519"
	case ES256:
		return "ES256"
	case ES256K:
		return "ES256K"
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

// Header is a decoded varsig header.
type Header struct {
	// Version is 1 for v1 headers and 0 for legacy v0 headers.
	Version int
	// Algorithm is the signature algorithm.
	Algorithm Algorithm
	// Encoding is the payload-encoding multicodec (0x71 for DAG-CBOR).
	Encoding uint64
}

// The canonical v1 DAG-CBOR headers, precomputed.
var (
	headerEd25519 = []byte{0x34, 0x01, 0xed, 0x01, 0xed, 0x01, 0x13, 0x71}
	headerES256   = []byte{0x34, 0x01, 0xec, 0x01, 0x80, 0x24, 0x12, 0x71}
	headerES256K  = []byte{0x34, 0x01, 0xec, 0x01, 0xe7, 0x01, 0x12, 0x71}
)

// Encode returns the varsig v1 header for alg with a DAG-CBOR payload encoding, e.g.
// 34 01 ed 01 ed 01 13 71 for Ed25519. The returned slice is fresh and may be modified.
func Encode(alg Algorithm) ([]byte, error) {
	var h []byte
	switch alg {
	case Ed25519:
		h = headerEd25519
	case ES256:
		h = headerES256
	case ES256K:
		h = headerES256K
	default:
		return nil, fmt.Errorf("%w: algorithm %v", ErrUnsupported, alg)
	}
	return append([]byte(nil), h...), nil
}

// MustEncode is Encode for the algorithms this package defines; it panics on any other
// value, which is a programming error.
func MustEncode(alg Algorithm) []byte {
	h, err := Encode(alg)
	if err != nil {
		panic(err)
	}
	return h
}

// Decode parses a varsig header: v1 headers for Ed25519, ES256 and ES256K, and the legacy
// v0 Ed25519 headers 34 ed 01 71 and 34 ed 01 13 71. The whole input must be consumed.
func Decode(b []byte) (Header, error) {
	if len(b) > MaxHeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes exceeds %d", ErrMalformed, len(b), MaxHeaderSize)
	}
	r := reader{b: b}
	p, err := r.uvarint()
	if err != nil {
		return Header{}, err
	}
	if p != Prefix {
		return Header{}, fmt.Errorf("%w: prefix 0x%x, want 0x34", ErrMalformed, p)
	}
	v, err := r.uvarint()
	if err != nil {
		return Header{}, err
	}
	switch {
	case v == Version1:
		return decodeV1(&r)
	case v >= 0x40:
		// v0: no version segment; the algorithm code comes directly after the prefix.
		return decodeV0(&r, v)
	default:
		return Header{}, fmt.Errorf("%w: version %d", ErrUnsupported, v)
	}
}

func decodeV1(r *reader) (Header, error) {
	h := Header{Version: 1}
	alg, err := r.uvarint()
	if err != nil {
		return h, err
	}
	curve, err := r.uvarint()
	if err != nil {
		return h, err
	}
	hash, err := r.uvarint()
	if err != nil {
		return h, err
	}
	switch {
	case alg == codeEdDSA && curve == codeEd25519Pub && hash == codeSHA2_512:
		h.Algorithm = Ed25519
	case alg == codeECDSA && curve == codeP256Pub && hash == codeSHA2_256:
		h.Algorithm = ES256
	case alg == codeECDSA && curve == codeSecp256k1 && hash == codeSHA2_256:
		h.Algorithm = ES256K
	default:
		return h, fmt.Errorf("%w: algorithm 0x%x curve 0x%x hash 0x%x", ErrUnsupported, alg, curve, hash)
	}
	if err := r.encoding(&h); err != nil {
		return h, err
	}
	return h, nil
}

func decodeV0(r *reader, alg uint64) (Header, error) {
	h := Header{Version: 0}
	if alg != codeEdDSA {
		return h, fmt.Errorf("%w: v0 algorithm 0x%x (only Ed25519 is read)", ErrUnsupported, alg)
	}
	h.Algorithm = Ed25519
	// Optional explicit sha2-512 hash segment (34 ed 01 13 71).
	if len(r.b) > 0 && r.b[0] == codeSHA2_512 && len(r.b) > 1 {
		r.b = r.b[1:]
	}
	if err := r.encoding(&h); err != nil {
		return h, err
	}
	return h, nil
}

type reader struct{ b []byte }

func (r *reader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		return 0, fmt.Errorf("%w: truncated or overlong varint", ErrMalformed)
	}
	// Reject non-minimal varints (a trailing 0x00 continuation group), as multiformats does.
	if n > 1 && r.b[n-1] == 0 {
		return 0, fmt.Errorf("%w: non-minimal varint", ErrMalformed)
	}
	r.b = r.b[n:]
	return v, nil
}

func (r *reader) encoding(h *Header) error {
	enc, err := r.uvarint()
	if err != nil {
		return err
	}
	if enc != EncodingDAGCBOR {
		return fmt.Errorf("%w: payload encoding 0x%x (only DAG-CBOR 0x71)", ErrUnsupported, enc)
	}
	h.Encoding = enc
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	return nil
}
