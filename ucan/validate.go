package ucan

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/ucan/did"
	"github.com/w3dag/w3dag/ucan/policy"
)

// Loader resolves proof CIDs to decoded delegation tokens. An error makes validation fail
// with UnavailableProof.
type Loader interface {
	LoadProof(c cid.Cid) (*Token, error)
}

// Proofs is an in-memory Loader keyed by token CID.
type Proofs map[cid.Cid]*Token

// LoadProof returns the token stored under c.
func (p Proofs) LoadProof(c cid.Cid) (*Token, error) {
	if t, ok := p[c]; ok && t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("proof %s not found", c)
}

// NewProofs indexes tokens by CID.
func NewProofs(tokens ...*Token) Proofs {
	p := make(Proofs, len(tokens))
	for _, t := range tokens {
		p[t.CID] = t
	}
	return p
}

// ValidatorOptions configures a Validator.
type ValidatorOptions struct {
	// Now returns the validation time; nil means time.Now.
	Now func() time.Time
	// CacheSize is the number of verified delegation CIDs kept; 0 means DefaultCacheSize,
	// a negative value disables the cache.
	CacheSize int
	// ClockSkew is tolerated on every exp and nbf check (the spec recommends up to 60 s);
	// zero means none, which is what the spec fixtures assume.
	ClockSkew time.Duration
}

// Validator checks invocations against their proof chains. It is safe for concurrent use.
type Validator struct {
	now   func() time.Time
	skew  int64          // seconds
	cache *verifiedCache // nil when disabled
}

// NewValidator returns a Validator with its own verified-delegation cache.
func NewValidator(opts ValidatorOptions) *Validator {
	v := &Validator{now: opts.Now, skew: int64(opts.ClockSkew / time.Second)}
	if v.skew < 0 {
		v.skew = -v.skew
	}
	if v.now == nil {
		v.now = time.Now
	}
	switch {
	case opts.CacheSize == 0:
		v.cache = newVerifiedCache(DefaultCacheSize)
	case opts.CacheSize > 0:
		v.cache = newVerifiedCache(opts.CacheSize)
	}
	return v
}

// Validate checks that inv is a validly signed, unexpired invocation whose proofs (loaded
// through proofs, listed root first in prf; the exact reverse order is also accepted) form
// a chain from its subject to its issuer that grants its command and whose policies all
// match its arguments. An invocation with no proofs is valid only when its issuer is its
// subject. It returns nil or an *Error.
//
// Checks run in this order, and the first failure is returned: the invocation's signature
// (InvalidSignature) and exp (Expired); no proofs and not self-issued, or more than
// MaxProofDepth proofs (InvalidClaim); loading every proof (UnavailableProof; a proof that is
// not a delegation is InvalidClaim); every proof's signature (InvalidSignature, skipped for
// proofs in the verified cache); every proof's exp (Expired) and nbf (TooEarly); principal
// alignment — the root is not a powerline (InvalidClaim) and is issued by its subject, each
// audience issues the next proof, the last audience is the invoker (InvalidAudience);
// every non-null proof subject is the invocation's subject (InvalidSubject); every proof's
// command covers the invocation's and its policy matches the args (MatchError).
func (v *Validator) Validate(inv *Token, proofs Loader) error {
	if inv == nil || inv.Invocation == nil {
		return newError(InvalidClaim, nil, "token is not an invocation")
	}
	_, err := v.ValidateWithin(inv, proofs, Within{})
	return err
}

// Within changes what Validator.ValidateWithin matches policies against and how much work
// it may do. Its zero value is what Validate does.
type Within struct {
	// Args replaces the invocation's args when policies are matched (a caller passes the
	// args in the canonical form it will act on, so that a policy cannot be bypassed by
	// another spelling of the same value); nil matches the invocation's own args.
	Args datamodel.Node
	// Budget is the evaluation steps every policy of the chain draws from, shared with the
	// caller's other checks; nil gives each policy a fresh policy.MaxMatchSteps.
	Budget *policy.Budget
}

// ValidateWithin is Validate with the policies matched against w.Args within w.Budget. On
// success it returns the policies of the chain, root first, so that the caller can match
// them against further args (each entry a read returns). A spent budget fails with
// MatchError wrapping policy.ErrTooComplex.
func (v *Validator) ValidateWithin(inv *Token, proofs Loader, w Within) ([]policy.Policy, error) {
	if inv == nil || inv.Invocation == nil {
		return nil, newError(InvalidClaim, nil, "token is not an invocation")
	}
	pols, err := v.validate(inv, proofs, w)
	if err != nil {
		return nil, err
	}
	return pols, nil
}

func (v *Validator) validate(inv *Token, proofs Loader, w Within) ([]policy.Policy, error) {
	if err := v.ValidateInvocation(inv); err != nil {
		return nil, err
	}
	in := inv.Invocation
	args := w.Args
	if args == nil {
		args = in.args()
	}
	now := v.now().Unix()
	if len(in.Proofs) == 0 {
		if !did.Equal(in.Issuer, in.Subject) {
			return nil, newError(InvalidClaim, nil, "invocation by %s on subject %s has no proofs (only the subject may invoke without delegation)", in.Issuer, in.Subject)
		}
		return nil, nil
	}
	if len(in.Proofs) > MaxProofDepth {
		return nil, newError(InvalidClaim, nil, "%d proofs exceeds the maximum chain depth %d", len(in.Proofs), MaxProofDepth)
	}
	if proofs == nil {
		return nil, newError(UnavailableProof, nil, "proof %s: no proof loader", in.Proofs[0])
	}
	chain := make([]*Token, len(in.Proofs))
	for i, c := range in.Proofs {
		t, err := proofs.LoadProof(c)
		if err != nil {
			return nil, newError(UnavailableProof, err, "proof %s: %v", c, err)
		}
		if t == nil || !t.CID.Equals(c) {
			return nil, newError(UnavailableProof, nil, "proof %s: loader returned a different token", c)
		}
		if t.Delegation == nil {
			return nil, newError(InvalidClaim, nil, "proof %s is not a delegation", c)
		}
		chain[i] = t
	}
	for _, t := range chain {
		if err := v.verifyProof(t); err != nil {
			return nil, err
		}
	}
	for _, t := range chain {
		dl := t.Delegation
		if dl.Expiration != nil && now-v.skew > *dl.Expiration {
			return nil, newError(Expired, nil, "proof %s expired at %d (now %d)", t.CID, *dl.Expiration, now)
		}
		if dl.NotBefore != nil && now+v.skew < *dl.NotBefore {
			return nil, newError(TooEarly, nil, "proof %s is not valid before %d (now %d)", t.CID, *dl.NotBefore, now)
		}
	}
	if err := alignment(chain, in); err != nil {
		rev := slices.Clone(chain)
		slices.Reverse(rev)
		if len(chain) < 2 || alignment(rev, in) != nil {
			return nil, err
		}
		chain = rev
	}
	for _, t := range chain {
		dl := t.Delegation
		if dl.Subject != "" && !did.Equal(dl.Subject, in.Subject) {
			return nil, newError(InvalidSubject, nil, "proof %s has subject %s, invocation has %s", t.CID, dl.Subject, in.Subject)
		}
	}
	for _, t := range chain {
		dl := t.Delegation
		if !CommandCovers(dl.Command, in.Command) {
			return nil, newError(MatchError, nil, "proof %s delegates %s, which does not cover %s", t.CID, dl.Command, in.Command)
		}
		if err := dl.Policy.CheckWithin(args, w.Budget); err != nil {
			return nil, newError(MatchError, err, "proof %s: %v", t.CID, err)
		}
	}
	pols := make([]policy.Policy, len(chain))
	for i, t := range chain {
		pols[i] = t.Delegation.Policy
	}
	return pols, nil
}

// ValidateInvocation checks the invocation's own validity and nothing of its authority: its
// signature (InvalidSignature) and its exp (Expired; UCAN 1.0 invocations have no nbf). Its
// proofs are neither loaded nor consulted. It returns nil or an *Error. Validate runs these
// checks first; ValidateInvocation alone suits commands the executor grants to any signed
// invocation, such as reads of public data.
func (v *Validator) ValidateInvocation(inv *Token) error {
	if inv == nil || inv.Invocation == nil {
		return newError(InvalidClaim, nil, "token is not an invocation")
	}
	if err := inv.VerifySignature(); err != nil {
		return err
	}
	in := inv.Invocation
	if now := v.now().Unix(); in.Expiration != nil && now-v.skew > *in.Expiration {
		return newError(Expired, nil, "invocation %s expired at %d (now %d)", inv.CID, *in.Expiration, now)
	}
	return nil
}

// verifyProof checks a proof's signature, consulting and filling the cache.
func (v *Validator) verifyProof(t *Token) error {
	if v.cache != nil && v.cache.contains(t.CID) {
		return nil
	}
	if err := t.VerifySignature(); err != nil {
		msg := err.Error()
		if e, ok := errors.AsType[*Error](err); ok {
			msg = e.Message
		}
		return newError(InvalidSignature, err, "proof %s: %s", t.CID, msg)
	}
	if v.cache != nil {
		v.cache.add(t.CID)
	}
	return nil
}

// alignment checks the principals of a root-first chain: the root is not a powerline and
// is issued by its subject, each audience is the next issuer, and the last audience is the
// invoker.
func alignment(chain []*Token, in *Invocation) error {
	root := chain[0].Delegation
	if root.Subject == "" {
		return newError(InvalidClaim, nil, "invalid powerline: root proof %s has no subject", chain[0].CID)
	}
	if !did.Equal(root.Issuer, root.Subject) {
		return newError(InvalidAudience, nil, "root proof %s is issued by %s, not by its subject %s", chain[0].CID, root.Issuer, root.Subject)
	}
	for i := 0; i+1 < len(chain); i++ {
		a, b := chain[i].Delegation, chain[i+1].Delegation
		if !did.Equal(a.Audience, b.Issuer) {
			return newError(InvalidAudience, nil, "proof %s is delegated to %s but proof %s is issued by %s", chain[i].CID, a.Audience, chain[i+1].CID, b.Issuer)
		}
	}
	last := chain[len(chain)-1]
	if !did.Equal(last.Delegation.Audience, in.Issuer) {
		return newError(InvalidAudience, nil, "proof %s is delegated to %s, not to the invoker %s", last.CID, last.Delegation.Audience, in.Issuer)
	}
	return nil
}
