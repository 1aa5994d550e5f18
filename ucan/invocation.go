package ucan

import (
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/ucan/did"
)

// Invocation is the payload of a ucan/inv token: Issuer asks to run Command on Subject with
// Args, proving authority with the delegations listed in Proofs (root first).
type Invocation struct {
	Issuer  string
	Subject string
	// Audience is the executor when it differs from Subject; "" when absent.
	Audience string
	Command  string
	// Args is a map; never nil once decoded. Sealing treats nil as {}.
	Args datamodel.Node
	// Proofs are the CIDs of the delegation chain, root first.
	Proofs []cid.Cid
	// Meta is nil when absent; otherwise a map.
	Meta datamodel.Node
	// Nonce may be empty (idempotent tasks).
	Nonce []byte
	// Expiration is nil for null (never expires).
	Expiration *int64
	// IssuedAt is nil when absent.
	IssuedAt *int64
	// Cause is the receipt that enqueued this task; nil when absent.
	Cause *cid.Cid
}

func decodeInvocation(d *decoder) (*Invocation, error) {
	n, err := d.expect(majMap, "invocation payload")
	if err != nil {
		return nil, err
	}
	cnt, err := d.count(n, 2)
	if err != nil {
		return nil, err
	}
	inv := &Invocation{}
	var hasIss, hasSub, hasCmd, hasArgs, hasPrf, hasNonce bool
	prev := ""
	for i := 0; i < cnt; i++ {
		k, err := d.key(prev, i == 0)
		if err != nil {
			return nil, err
		}
		prev = k
		switch k {
		case "iss":
			inv.Issuer, err = d.did(k)
			hasIss = true
		case "sub":
			inv.Subject, err = d.did(k)
			hasSub = true
		case "aud":
			inv.Audience, err = d.did(k)
		case "cmd":
			inv.Command, err = d.command(k)
			hasCmd = true
		case "args":
			inv.Args, err = d.mapNode(k)
			hasArgs = true
		case "prf":
			inv.Proofs, err = d.links(k)
			hasPrf = true
		case "meta":
			inv.Meta, err = d.mapNode(k)
		case "nonce":
			inv.Nonce, err = d.bytes(k)
			inv.Nonce = append([]byte{}, inv.Nonce...)
			hasNonce = true
		case "exp":
			inv.Expiration, err = d.nullableTime(k)
		case "iat":
			var v int64
			v, err = d.time(k)
			inv.IssuedAt = &v
		case "cause":
			var c cid.Cid
			c, err = d.link(k)
			inv.Cause = &c
		default:
			return nil, fmt.Errorf("%w: %q in invocation", ErrUnknownField, k)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		ok   bool
		name string
	}{{hasIss, "iss"}, {hasSub, "sub"}, {hasCmd, "cmd"}, {hasArgs, "args"}, {hasPrf, "prf"}, {hasNonce, "nonce"}} {
		if !f.ok {
			return nil, fmt.Errorf("%w: invocation has no %s", ErrMissingField, f.name)
		}
	}
	return inv, nil
}

func (d *decoder) links(field string) ([]cid.Cid, error) {
	n, err := d.expect(majArray, field)
	if err != nil {
		return nil, err
	}
	cnt, err := d.count(n, 1)
	if err != nil {
		return nil, err
	}
	out := make([]cid.Cid, 0, cnt)
	for i := 0; i < cnt; i++ {
		c, err := d.link(fmt.Sprintf("%s[%d]", field, i))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

var emptyMap = func() datamodel.Node {
	nb := basicnode.Prototype.Map.NewBuilder()
	ma, err := nb.BeginMap(0)
	if err != nil {
		panic(err)
	}
	if err := ma.Finish(); err != nil {
		panic(err)
	}
	return nb.Build()
}()

func (inv *Invocation) args() datamodel.Node {
	if inv.Args == nil {
		return emptyMap
	}
	return inv.Args
}

// argsSizeHint is the room Invocation.sizeHint reserves for args and meta (a receipt's args
// hold its state, path and two links: a few hundred bytes).
const argsSizeHint = 512

// sizeHint is the room to make for the payload: the fixed fields and argsSizeHint bytes
// of args and meta, so that the buffer grows at most once for typical invocations and
// receipts.
func (inv *Invocation) sizeHint(iss string) int {
	return 128 + len(inv.Audience) + len(inv.Command) + len(iss) + len(inv.Subject) + len(inv.Nonce) + 40*len(inv.Proofs) + argsSizeHint
}

// appendPayload appends the payload map to b, in canonical key order:
// aud cmd exp iat iss prf sub args meta cause nonce.
func (inv *Invocation) appendPayload(b []byte, iss string) ([]byte, error) {
	if inv.Subject == "" {
		return nil, fmt.Errorf("%w: invocation has no sub", ErrMissingField)
	}
	if err := ValidateCommand(inv.Command); err != nil {
		return nil, fieldErr(ErrInvalidField, "cmd", err)
	}
	if inv.Args != nil && inv.Args.Kind() != datamodel.Kind_Map {
		return nil, fmt.Errorf("%w: args: want map, got %s", ErrInvalidField, inv.Args.Kind())
	}
	if err := checkMap("meta", inv.Meta); err != nil {
		return nil, err
	}
	if err := checkTime("exp", inv.Expiration); err != nil {
		return nil, err
	}
	if err := checkTime("iat", inv.IssuedAt); err != nil {
		return nil, err
	}
	if len(inv.Proofs) > MaxProofDepth {
		return nil, fmt.Errorf("%w: prf: %d proofs exceeds %d", ErrInvalidField, len(inv.Proofs), MaxProofDepth)
	}
	n := 7
	for _, present := range []bool{inv.Audience != "", inv.IssuedAt != nil, inv.Meta != nil, inv.Cause != nil} {
		if present {
			n++
		}
	}
	e := encoder{buf: b}
	e.head(majMap, uint64(n))
	if inv.Audience != "" {
		e.text("aud")
		e.text(inv.Audience)
	}
	e.text("cmd")
	e.text(inv.Command)
	e.text("exp")
	e.nullableInt(inv.Expiration)
	if inv.IssuedAt != nil {
		e.text("iat")
		e.int(*inv.IssuedAt)
	}
	e.text("iss")
	e.text(iss)
	e.text("prf")
	e.head(majArray, uint64(len(inv.Proofs)))
	for i, c := range inv.Proofs {
		if !c.Defined() {
			return nil, fmt.Errorf("%w: prf[%d] is an undefined CID", ErrInvalidField, i)
		}
		e.link(c)
	}
	e.text("sub")
	e.text(inv.Subject)
	e.text("args")
	if err := e.node(inv.args()); err != nil {
		return nil, fieldErr(ErrInvalidField, "args", err)
	}
	if inv.Meta != nil {
		e.text("meta")
		if err := e.node(inv.Meta); err != nil {
			return nil, fieldErr(ErrInvalidField, "meta", err)
		}
	}
	if inv.Cause != nil {
		if !inv.Cause.Defined() {
			return nil, fmt.Errorf("%w: cause is an undefined CID", ErrInvalidField)
		}
		e.text("cause")
		e.link(*inv.Cause)
	}
	e.text("nonce")
	if inv.Nonce == nil {
		e.bytes([]byte{})
	} else {
		e.bytes(inv.Nonce)
	}
	return e.buf, nil
}

// Seal encodes the invocation, signs it with s and returns the decoded token. Issuer must be
// s's DID or empty (then s's DID is used). A nil Nonce is written as empty bytes.
func (inv *Invocation) Seal(s did.Signer, opts SealOptions) (*Token, error) {
	iss, err := issuerFor(inv.Issuer, s)
	if err != nil {
		return nil, err
	}
	tag := TagInvocation
	if opts.RC1 {
		tag = TagInvocationRC1
	}
	// The payload is encoded into the envelope, where it is signed, not copied there.
	d, err := startDraft(s, tag, inv.sizeHint(iss))
	if err != nil {
		return nil, err
	}
	if d.buf, err = inv.appendPayload(d.buf, iss); err != nil {
		return nil, fmt.Errorf("sealing invocation: %w", err)
	}
	if opts.Direct {
		if err := checkDirect(iss, inv); err != nil {
			return nil, err
		}
	}
	env, err := d.finish(s)
	if err != nil {
		return nil, err
	}
	if opts.Direct {
		return sealDirect(env, tag, iss, inv)
	}
	return open(env)
}

// Task returns the task ID: the CID (dag-cbor, sha2-256) of the map {sub, cmd, args, nonce}.
// Two invocations of the same task by different issuers or with different proofs share it.
func (inv *Invocation) Task() (cid.Cid, error) {
	e := encoder{buf: make([]byte, 0, 128)}
	e.head(majMap, 4)
	e.text("cmd")
	e.text(inv.Command)
	e.text("sub")
	e.text(inv.Subject)
	e.text("args")
	if inv.Args != nil && inv.Args.Kind() != datamodel.Kind_Map {
		return cid.Undef, fmt.Errorf("%w: args: want map, got %s", ErrInvalidField, inv.Args.Kind())
	}
	if err := e.node(inv.args()); err != nil {
		return cid.Undef, fmt.Errorf("task: %w", fieldErr(ErrInvalidField, "args", err))
	}
	e.text("nonce")
	e.bytes(inv.Nonce)
	return cborCID(e.buf), nil
}
