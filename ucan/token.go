package ucan

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/cbor"
	"github.com/w3dag/w3dag/ucan/did"
	"github.com/w3dag/w3dag/ucan/varsig"
)

// Payload tags. Decode accepts all four; sealing emits the @1.0.0 forms unless
// SealOptions.RC1 is set.
const (
	TagDelegation    = "ucan/dlg@1.0.0"
	TagDelegationRC1 = "ucan/dlg@1.0.0-rc.1"
	TagInvocation    = "ucan/inv@1.0.0"
	TagInvocationRC1 = "ucan/inv@1.0.0-rc.1"
)

// Limits.
const (
	// MaxTokenSize is the largest envelope Decode accepts, in bytes.
	MaxTokenSize = 64 << 10
	// MaxProofDepth is the most proofs an invocation's prf may list.
	MaxProofDepth = 16
	// MaxNestingDepth bounds the nesting of lists and maps inside a payload (args, meta, pol).
	MaxNestingDepth = cbor.MaxDepth
	// NonceSize is the length of the nonces NewNonce generates, the size the spec
	// recommends. Nonces of any length are accepted, empty ones included.
	NonceSize = 12
)

// codecDAGCBOR is the multicodec of DAG-CBOR, used for token and task CIDs.
const codecDAGCBOR = 0x71

// Token is a decoded (or freshly sealed) UCAN envelope.
type Token struct {
	// CID is the CIDv1 (dag-cbor, sha2-256) of Raw.
	CID cid.Cid
	// Raw is the whole envelope, exactly as received or sealed.
	Raw []byte
	// Tag is the payload tag, one of the four Tag constants.
	Tag string
	// Signature is the signature bytes (element 0 of the envelope).
	Signature []byte
	// Exactly one of Delegation and Invocation is set.
	Delegation *Delegation
	Invocation *Invocation

	header     []byte // varsig header ("h")
	alg        varsig.Algorithm
	signedFrom int // offset in Raw of element 1, the signed bytes
	payloadAt  int // offset in Raw of the payload map
}

// Issuer returns the iss of the token's payload.
func (t *Token) Issuer() string {
	switch {
	case t.Delegation != nil:
		return t.Delegation.Issuer
	case t.Invocation != nil:
		return t.Invocation.Issuer
	}
	return ""
}

// Kind returns "delegation" or "invocation".
func (t *Token) Kind() string {
	if t.Delegation != nil {
		return "delegation"
	}
	return "invocation"
}

// VarsigHeader returns the varsig header ("h") of the envelope. Callers must not modify it.
func (t *Token) VarsigHeader() []byte { return t.header }

// SignedBytes returns the bytes the signature covers: element 1 of the envelope, exactly as
// received. Callers must not modify them.
func (t *Token) SignedBytes() []byte { return t.Raw[t.signedFrom:] }

// VerifySignature checks the signature against the issuer's did:key. The varsig header must
// name the issuer's key type. Failures are *Error with Name InvalidSignature.
func (t *Token) VerifySignature() error {
	iss := t.Issuer()
	v, err := did.Parse(iss)
	if err != nil {
		return newError(InvalidSignature, err, "issuer %s: %v", iss, err)
	}
	if want := v.VarsigHeader(); !bytes.Equal(t.header, want) {
		h, err := varsig.Decode(want)
		if err != nil || h.Algorithm != t.alg {
			return newError(InvalidSignature, nil, "varsig header %x (%v) does not match the %s key of issuer %s", t.header, t.alg, h.Algorithm, iss)
		}
	}
	if !v.Verify(t.Raw[t.signedFrom:], t.Signature) {
		return newError(InvalidSignature, nil, "signature of %s does not verify against issuer %s", t.CID, iss)
	}
	return nil
}

// Payload decodes the payload map (the value under the tag key) as a generic IPLD node,
// e.g. for printing it as DAG-JSON.
func (t *Token) Payload() (datamodel.Node, error) {
	d := decoder{b: t.Raw, pos: t.payloadAt}
	n, err := d.anyNode("payload")
	if err != nil {
		return nil, fmt.Errorf("decoding payload: %w", err)
	}
	return n, nil
}

// Decode parses an envelope: structure, canonical DAG-CBOR, tag, varsig header and payload
// fields. It does not check the signature (see VerifySignature) or any time bounds. The
// input is copied; the Token does not retain raw.
func Decode(raw []byte) (*Token, error) {
	if len(raw) > MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrTooLarge, len(raw), MaxTokenSize)
	}
	return decode(slices.Clone(raw))
}

// decode is Decode of an envelope the Token may keep: raw must not be changed afterwards.
func decode(raw []byte) (*Token, error) {
	if len(raw) > MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrTooLarge, len(raw), MaxTokenSize)
	}
	t := &Token{Raw: raw}
	d := &decoder{b: raw}
	n, err := d.expect(majArray, "envelope")
	if err != nil {
		return nil, err
	}
	if n != 2 {
		return nil, fmt.Errorf("%w: envelope has %d elements, want 2 [signature, payload]", ErrMalformed, n)
	}
	if t.Signature, err = d.bytes("signature"); err != nil {
		return nil, err
	}
	t.signedFrom = d.pos
	if n, err = d.expect(majMap, "signature payload"); err != nil {
		return nil, err
	}
	if n != 2 {
		return nil, fmt.Errorf("%w: signature payload has %d keys, want 2 (h and the payload tag)", ErrMalformed, n)
	}
	k, err := d.key("", true)
	if err != nil {
		return nil, err
	}
	if k != "h" {
		return nil, fmt.Errorf("%w: signature payload key %q, want \"h\" first", ErrMalformed, k)
	}
	if t.header, err = d.bytes("h"); err != nil {
		return nil, err
	}
	vh, err := varsig.Decode(t.header)
	if err != nil {
		return nil, fmt.Errorf("%w: h: %v", ErrInvalidField, err)
	}
	t.alg = vh.Algorithm
	if t.Tag, err = d.key("h", false); err != nil {
		return nil, err
	}
	t.payloadAt = d.pos
	switch t.Tag {
	case TagDelegation, TagDelegationRC1:
		t.Delegation, err = decodeDelegation(d)
	case TagInvocation, TagInvocationRC1:
		t.Invocation, err = decodeInvocation(d)
	default:
		if !strings.HasPrefix(t.Tag, "ucan/") {
			return nil, fmt.Errorf("%w: %q is not a ucan/ payload tag", ErrUnknownTag, t.Tag)
		}
		return nil, fmt.Errorf("%w: %q (want %s, %s, %s or %s)", ErrUnknownTag, t.Tag, TagDelegation, TagInvocation, TagDelegationRC1, TagInvocationRC1)
	}
	if err != nil {
		return nil, err
	}
	if !d.done() {
		return nil, fmt.Errorf("%w: %d trailing bytes after the envelope", ErrMalformed, len(raw)-d.pos)
	}
	t.CID = cborCID(raw)
	return t, nil
}

// cborCID returns the CIDv1 (dag-cbor, sha2-256) of b: a token's CID, or a task ID.
func cborCID(b []byte) cid.Cid {
	sum := sha256.Sum256(b)
	mh := make([]byte, 2, 2+sha256.Size)
	mh[0], mh[1] = multihash.SHA2_256, sha256.Size
	mh = append(mh, sum[:]...)
	return cid.NewCidV1(codecDAGCBOR, multihash.Multihash(mh))
}

// SealOptions controls sealing. The zero value emits the @1.0.0 payload tags.
type SealOptions struct {
	// RC1 emits the ucan/dlg@1.0.0-rc.1 / ucan/inv@1.0.0-rc.1 tags used by go-ucan and
	// most implementations in circulation.
	RC1 bool
	// Direct (invocations only) builds the returned token from the invocation as given
	// instead of decoding the sealed envelope again: the envelope bytes are the same, the
	// same checks are made, but Args and Meta are the very nodes passed in (so they must
	// not change afterwards, and a map keeps the order it was built in) rather than
	// decoded copies. For callers that seal many tokens from nodes they build themselves
	// (receipts). Zero decodes.
	Direct bool
}

// sealed is an envelope being sealed: its bytes and where its parts are.
type sealed struct {
	raw        []byte
	sig        []byte
	header     []byte
	signedFrom int
	payloadAt  int
}

// sigRoom is the signature length sign leaves room for in front of the signed bytes
// (Ed25519, P-256 and secp256k1 signatures are 64 bytes); other lengths cost a copy.
const sigRoom = 64

// sign signs payload (the canonical DAG-CBOR payload map) under tag and returns the
// envelope [signature, {h, tag: payload}], built in one buffer.
func sign(s did.Signer, tag string, payload []byte) (*sealed, error) {
	d, err := startDraft(s, tag, len(payload))
	if err != nil {
		return nil, err
	}
	d.buf = append(d.buf, payload...)
	return d.finish(s)
}

// draft is a token's envelope being written in one buffer: room for the signature, then
// the signed map up to its payload, to which the payload is appended (buf) before finish
// signs it.
type draft struct {
	buf []byte
	// pre is the envelope's array and signature heads, written in front of the
	// signature once it is known to be sigRoom bytes long.
	pre []byte
	// at is where the signed bytes start, hdrEnd where the varsig header (hlen bytes)
	// ends and payloadAt where the payload starts.
	at, hdrEnd, hlen, payloadAt int
}

// startDraft starts the envelope of a token signed by s under tag, with room for a
// payload of about size bytes: a payload appended to buf is written where it is signed,
// not copied there. Appending the payload and calling finish is sign.
func startDraft(s did.Signer, tag string, size int) (draft, error) {
	if s == nil {
		return draft{}, fmt.Errorf("sealing: no signer")
	}
	h := s.VarsigHeader()
	pre := encoder{buf: make([]byte, 0, 4)}
	pre.head(majArray, 2)
	pre.head(majBytes, sigRoom)
	at := len(pre.buf) + sigRoom // where the signed bytes start
	e := encoder{buf: make([]byte, at, at+size+len(h)+len(tag)+16)}
	e.head(majMap, 2)
	e.text("h")
	e.bytes(h)
	hdrEnd := len(e.buf)
	e.text(tag)
	return draft{buf: e.buf, pre: pre.buf, at: at, hdrEnd: hdrEnd, hlen: len(h), payloadAt: len(e.buf)}, nil
}

// finish signs the draft's map, payload included, with s and puts the signature in front
// of it.
func (d *draft) finish(s did.Signer) (*sealed, error) {
	at, hdrEnd, payloadAt := d.at, d.hdrEnd, d.payloadAt
	sig, err := s.Sign(d.buf[at:])
	if err != nil {
		return nil, fmt.Errorf("sealing: %w", err)
	}
	raw := d.buf
	if len(sig) == sigRoom {
		copy(raw, d.pre)
		copy(raw[len(d.pre):at], sig)
	} else {
		env := encoder{buf: make([]byte, 0, len(raw)-at+len(sig)+10)}
		env.head(majArray, 2)
		env.bytes(sig)
		shift := len(env.buf) - at
		raw = append(env.buf, raw[at:]...)
		at += shift
		hdrEnd += shift
		payloadAt += shift
	}
	return &sealed{
		raw:        raw,
		sig:        raw[at-len(sig) : at],
		header:     raw[hdrEnd-d.hlen : hdrEnd],
		signedFrom: at,
		payloadAt:  payloadAt,
	}, nil
}

// seal signs payload (the canonical DAG-CBOR payload map) under tag and decodes the result.
func seal(s did.Signer, tag string, payload []byte) (*Token, error) {
	env, err := sign(s, tag, payload)
	if err != nil {
		return nil, err
	}
	return open(env)
}

// open decodes a sealed envelope into its token.
func open(env *sealed) (*Token, error) {
	t, err := decode(env.raw) // env.raw is ours alone: no copy
	if err != nil {
		return nil, fmt.Errorf("sealing: %w", err)
	}
	return t, nil
}

// checkDirect makes the checks of the DIDs of an invocation sealed with Direct that Decode
// would make of the sealed envelope.
func checkDirect(iss string, inv *Invocation) error {
	for _, f := range [...]struct{ name, v string }{{"iss", iss}, {"sub", inv.Subject}, {"aud", inv.Audience}} {
		if (f.name != "aud" || f.v != "") && !strings.HasPrefix(f.v, "did:") {
			return fmt.Errorf("sealing: %w: %s: %q is not a DID", ErrInvalidField, f.name, f.v)
		}
	}
	return nil
}

// sealDirect builds the token of env, the sealed envelope of inv (encoded with issuer
// iss under tag; checkDirect passed), from inv, making the checks Decode would make of it.
func sealDirect(env *sealed, tag string, iss string, inv *Invocation) (*Token, error) {
	if len(env.raw) > MaxTokenSize {
		return nil, fmt.Errorf("sealing: %w: %d bytes exceeds %d", ErrTooLarge, len(env.raw), MaxTokenSize)
	}
	vh, err := varsig.Decode(env.header)
	if err != nil {
		return nil, fmt.Errorf("sealing: %w: h: %v", ErrInvalidField, err)
	}
	out := &Invocation{
		Issuer:   iss,
		Subject:  inv.Subject,
		Audience: inv.Audience,
		Command:  inv.Command,
		Args:     inv.args(),
		Proofs:   append(make([]cid.Cid, 0, len(inv.Proofs)), inv.Proofs...),
		Meta:     inv.Meta,
		Nonce:    append([]byte{}, inv.Nonce...),
	}
	if inv.Expiration != nil {
		v := *inv.Expiration
		out.Expiration = &v
	}
	if inv.IssuedAt != nil {
		v := *inv.IssuedAt
		out.IssuedAt = &v
	}
	if inv.Cause != nil {
		c := *inv.Cause
		out.Cause = &c
	}
	return &Token{
		CID:        cborCID(env.raw),
		Raw:        env.raw,
		Tag:        tag,
		Signature:  env.sig,
		Invocation: out,
		header:     env.header,
		alg:        vh.Algorithm,
		signedFrom: env.signedFrom,
		payloadAt:  env.payloadAt,
	}, nil
}

// NewNonce returns NonceSize random bytes.
func NewNonce() []byte {
	b := make([]byte, NonceSize)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand.Read never returns an error on supported platforms.
		panic(fmt.Sprintf("ucan: reading random nonce: %v", err))
	}
	return b
}

// --- field readers shared by the payload decoders ---

func fieldErr(sentinel error, field string, err error) error {
	return fmt.Errorf("%w: %s: %w", sentinel, field, err)
}

func (d *decoder) did(field string) (string, error) {
	s, err := d.text(field)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(s, "did:") {
		return "", fmt.Errorf("%w: %s: %q is not a DID", ErrInvalidField, field, s)
	}
	return s, nil
}

func (d *decoder) command(field string) (string, error) {
	s, err := d.text(field)
	if err != nil {
		return "", err
	}
	if err := ValidateCommand(s); err != nil {
		return "", fieldErr(ErrInvalidField, field, err)
	}
	return s, nil
}

// time reads a timestamp: an integer within ±(2^53-1).
func (d *decoder) time(field string) (int64, error) {
	v, err := d.int(field)
	if err != nil {
		return 0, err
	}
	if v > maxSafeInt || v < -maxSafeInt {
		return 0, fmt.Errorf("%w: %s: %d is outside ±(2^53-1)", ErrInvalidField, field, v)
	}
	return v, nil
}

// nullableTime reads a timestamp or null (nil).
func (d *decoder) nullableTime(field string) (*int64, error) {
	if d.isNull() {
		return nil, nil
	}
	v, err := d.time(field)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

func checkTime(field string, v *int64) error {
	if v != nil && (*v > maxSafeInt || *v < -maxSafeInt) {
		return fmt.Errorf("%w: %s: %d is outside ±(2^53-1)", ErrInvalidField, field, *v)
	}
	return nil
}

func (e *encoder) nullableInt(v *int64) {
	if v == nil {
		e.null()
	} else {
		e.int(*v)
	}
}

// checkMap checks that an optional node (meta, args) is a map.
func checkMap(field string, n datamodel.Node) error {
	if n != nil && n.Kind() != datamodel.Kind_Map {
		return fmt.Errorf("%w: %s: want map, got %s", ErrInvalidField, field, n.Kind())
	}
	return nil
}

// issuerFor returns the issuer to seal with: the signer's DID, which must match iss if set.
func issuerFor(iss string, s did.Signer) (string, error) {
	if s == nil {
		return "", fmt.Errorf("sealing: no signer")
	}
	if iss == "" {
		return s.DID(), nil
	}
	if !did.Equal(iss, s.DID()) {
		return "", fmt.Errorf("%w: iss: %s is not the signer %s", ErrInvalidField, iss, s.DID())
	}
	return iss, nil
}

// CID is go-cid's Cid, re-exported so callers can write []ucan.CID{...} without another import.
type CID = cid.Cid
