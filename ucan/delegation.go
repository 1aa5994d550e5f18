package ucan

import (
	"fmt"

	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/ucan/did"
	"github.com/w3dag/w3dag/ucan/policy"
)

// Delegation is the payload of a ucan/dlg token: Issuer grants Audience the authority to
// run Command (and commands below it) on Subject, subject to Policy.
type Delegation struct {
	Issuer   string
	Audience string
	// Subject is "" for a powerline delegation (sub null, or absent as go-ucan writes it).
	Subject string
	Command string
	Policy  policy.Policy
	// Nonce may be any bytes, of any length, even empty ([]byte{}): the UCAN 1.0 spec says
	// it MAY be any value and only recommends a random one (NewNonce: 12 random bytes).
	// Sealing refuses a nil Nonce, so that forgetting it is an error; a decoded
	// delegation's Nonce is never nil.
	Nonce []byte
	// Meta is nil when absent; otherwise a map.
	Meta datamodel.Node
	// NotBefore is nil when absent (valid from the epoch).
	NotBefore *int64
	// Expiration is nil for null (never expires). Sealing always writes the exp key;
	// decoding also accepts it absent.
	Expiration *int64
}

func decodeDelegation(d *decoder) (*Delegation, error) {
	n, err := d.expect(majMap, "delegation payload")
	if err != nil {
		return nil, err
	}
	cnt, err := d.count(n, 2)
	if err != nil {
		return nil, err
	}
	dl := &Delegation{}
	var hasIss, hasAud, hasCmd, hasPol, hasNonce bool
	prev := ""
	for i := 0; i < cnt; i++ {
		k, err := d.key(prev, i == 0)
		if err != nil {
			return nil, err
		}
		prev = k
		switch k {
		case "iss":
			dl.Issuer, err = d.did(k)
			hasIss = true
		case "aud":
			dl.Audience, err = d.did(k)
			hasAud = true
		case "sub":
			if !d.isNull() {
				dl.Subject, err = d.did(k)
			}
		case "cmd":
			dl.Command, err = d.command(k)
			hasCmd = true
		case "pol":
			dl.Policy, err = d.policy()
			hasPol = true
		case "nonce":
			// Any length, empty included: the spec says the nonce MAY be any value.
			dl.Nonce, err = d.bytes(k)
			dl.Nonce = append([]byte{}, dl.Nonce...)
			hasNonce = true
		case "meta":
			dl.Meta, err = d.mapNode(k)
		case "nbf":
			var v int64
			v, err = d.time(k)
			dl.NotBefore = &v
		case "exp":
			dl.Expiration, err = d.nullableTime(k)
		default:
			return nil, fmt.Errorf("%w: %q in delegation", ErrUnknownField, k)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		ok   bool
		name string
	}{{hasIss, "iss"}, {hasAud, "aud"}, {hasCmd, "cmd"}, {hasPol, "pol"}, {hasNonce, "nonce"}} {
		if !f.ok {
			return nil, fmt.Errorf("%w: delegation has no %s", ErrMissingField, f.name)
		}
	}
	return dl, nil
}

func (d *decoder) policy() (policy.Policy, error) {
	b, err := d.peek()
	if err != nil {
		return nil, err
	}
	if b == 0x80 { // empty list, the common case
		d.pos++
		return policy.Policy{}, nil
	}
	if b>>5 != majArray {
		return nil, fmt.Errorf("%w: pol: want a list of statements", ErrInvalidField)
	}
	n, err := d.anyNode("pol")
	if err != nil {
		return nil, err
	}
	p, err := policy.Parse(n)
	if err != nil {
		return nil, fieldErr(ErrInvalidField, "pol", err)
	}
	return p, nil
}

// encode writes the payload map in canonical key order:
// aud cmd exp iss nbf pol sub meta nonce.
func (dl *Delegation) encode(iss string) ([]byte, error) {
	if dl.Audience == "" {
		return nil, fmt.Errorf("%w: delegation has no aud", ErrMissingField)
	}
	if err := ValidateCommand(dl.Command); err != nil {
		return nil, fieldErr(ErrInvalidField, "cmd", err)
	}
	if dl.Nonce == nil {
		return nil, fmt.Errorf("%w: delegation has no nonce (use NewNonce, or []byte{} for an empty one)", ErrMissingField)
	}
	if err := checkTime("exp", dl.Expiration); err != nil {
		return nil, err
	}
	if err := checkTime("nbf", dl.NotBefore); err != nil {
		return nil, err
	}
	if err := checkMap("meta", dl.Meta); err != nil {
		return nil, err
	}
	n := 7
	if dl.NotBefore != nil {
		n++
	}
	if dl.Meta != nil {
		n++
	}
	e := encoder{buf: make([]byte, 0, 256)}
	e.head(majMap, uint64(n))
	e.text("aud")
	e.text(dl.Audience)
	e.text("cmd")
	e.text(dl.Command)
	e.text("exp")
	e.nullableInt(dl.Expiration)
	e.text("iss")
	e.text(iss)
	if dl.NotBefore != nil {
		e.text("nbf")
		e.int(*dl.NotBefore)
	}
	e.text("pol")
	if len(dl.Policy) == 0 {
		e.head(majArray, 0)
	} else if err := e.node(dl.Policy.Node()); err != nil {
		return nil, fieldErr(ErrInvalidField, "pol", err)
	}
	e.text("sub")
	if dl.Subject == "" {
		e.null()
	} else {
		e.text(dl.Subject)
	}
	if dl.Meta != nil {
		e.text("meta")
		if err := e.node(dl.Meta); err != nil {
			return nil, fieldErr(ErrInvalidField, "meta", err)
		}
	}
	e.text("nonce")
	e.bytes(dl.Nonce)
	return e.buf, nil
}

// Seal encodes the delegation, signs it with s and returns the decoded token. Issuer must be
// s's DID or empty (then s's DID is used).
func (dl *Delegation) Seal(s did.Signer, opts SealOptions) (*Token, error) {
	iss, err := issuerFor(dl.Issuer, s)
	if err != nil {
		return nil, err
	}
	payload, err := dl.encode(iss)
	if err != nil {
		return nil, fmt.Errorf("sealing delegation: %w", err)
	}
	tag := TagDelegation
	if opts.RC1 {
		tag = TagDelegationRC1
	}
	return seal(s, tag, payload)
}
