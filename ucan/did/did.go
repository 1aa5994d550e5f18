package did

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/mr-tron/base58"
)

// Prefix is the method prefix of every DID this package handles, including the base58btc
// multibase prefix "z".
const Prefix = "did:key:z"

// MaxCachedKeys bounds the number of parsed did:key verifiers Parse keeps. When the cache is
// full it is emptied and refilled, which bounds memory without per-hit bookkeeping.
const MaxCachedKeys = 4096

// MaxDIDLength bounds the length of a did:key string accepted by Parse. The longest
// supported key (33-byte compressed ECDSA) renders in 57 characters after the prefix.
const MaxDIDLength = 128

// Multicodec codes of the public keys a did:key can carry.
const (
	CodeEd25519Pub   = 0xed
	CodeP256Pub      = 0x1200
	CodeSecp256k1Pub = 0xe7
)

// Verifier checks signatures made by one principal.
type Verifier interface {
	// DID returns the principal's did:key, e.g. "did:key:z6Mk...".
	DID() string
	// Verify reports whether sig is a valid signature of msg by this principal. Ed25519
	// verifies msg itself; ECDSA keys verify over SHA-256(msg) with a raw r||s signature.
	Verify(msg, sig []byte) bool
	// VarsigHeader returns the varsig v1 header (DAG-CBOR payload) for this key type,
	// e.g. 34 01 ed 01 ed 01 13 71. Callers must not modify the returned slice.
	VarsigHeader() []byte
}

// Signer is a Verifier that can also sign.
type Signer interface {
	Verifier
	// Sign signs msg (Ed25519: msg itself; ECDSA: SHA-256(msg), raw low-S r||s).
	Sign(msg []byte) ([]byte, error)
}

var cache = struct {
	sync.RWMutex
	m map[string]Verifier
}{m: make(map[string]Verifier)}

// Parse parses a did:key for an Ed25519, P-256 or secp256k1 public key. A DID fragment
// ("#...") is ignored. Parsed verifiers are cached (bounded by MaxCachedKeys).
func Parse(did string) (Verifier, error) {
	if i := strings.IndexByte(did, '#'); i >= 0 {
		did = did[:i]
	}
	cache.RLock()
	v, ok := cache.m[did]
	cache.RUnlock()
	if ok {
		return v, nil
	}
	v, err := parse(did)
	if err != nil {
		return nil, err
	}
	cache.Lock()
	if len(cache.m) >= MaxCachedKeys {
		clear(cache.m)
	}
	cache.m[did] = v
	cache.Unlock()
	return v, nil
}

func parse(did string) (Verifier, error) {
	if len(did) > MaxDIDLength {
		return nil, fmt.Errorf("%w: %d characters exceeds %d", ErrInvalidDID, len(did), MaxDIDLength)
	}
	if !strings.HasPrefix(did, Prefix) {
		return nil, fmt.Errorf("%w: %q does not start with %q", ErrInvalidDID, did, Prefix)
	}
	raw, err := base58.Decode(did[len(Prefix):])
	if err != nil {
		return nil, fmt.Errorf("%w: %q: base58btc: %v", ErrInvalidDID, did, err)
	}
	code, n := binary.Uvarint(raw)
	if n <= 0 {
		return nil, fmt.Errorf("%w: %q: bad multicodec varint", ErrInvalidDID, did)
	}
	key := raw[n:]
	switch code {
	case CodeEd25519Pub:
		return newEd25519Verifier(key)
	case CodeP256Pub:
		return newP256Verifier(key)
	case CodeSecp256k1Pub:
		return newSecp256k1Verifier(key)
	}
	return nil, fmt.Errorf("%w: %q: multicodec 0x%x", ErrUnsupportedKey, did, code)
}

// format renders a did:key from a multicodec code and raw public key bytes.
func format(code uint64, key []byte) string {
	b := binary.AppendUvarint(make([]byte, 0, 3+len(key)), code)
	b = append(b, key...)
	return Prefix + base58.Encode(b)
}

// Equal reports whether two DIDs name the same principal, ignoring any "#fragment".
func Equal(a, b string) bool {
	if i := strings.IndexByte(a, '#'); i >= 0 {
		a = a[:i]
	}
	if i := strings.IndexByte(b, '#'); i >= 0 {
		b = b[:i]
	}
	return a == b
}
