package ucan_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
	"github.com/w3dag/w3dag/ucan/policy"
)

const testNow = 1_800_000_000

func at(sec int64) ucan.ValidatorOptions {
	return ucan.ValidatorOptions{Now: func() time.Time { return time.Unix(sec, 0) }}
}

func gen(t testing.TB, f func() (did.Signer, error)) did.Signer {
	t.Helper()
	s, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func i64(v int64) *int64 { return &v }

func delegate(t testing.TB, from did.Signer, to, sub, cmd string, mod ...func(*ucan.Delegation)) *ucan.Token {
	t.Helper()
	d := &ucan.Delegation{Issuer: from.DID(), Audience: to, Subject: sub, Command: cmd, Nonce: ucan.NewNonce()}
	for _, m := range mod {
		m(d)
	}
	tok, err := d.Seal(from, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func invoke(t testing.TB, by did.Signer, sub, cmd string, args datamodel.Node, prf ...*ucan.Token) *ucan.Token {
	t.Helper()
	inv := &ucan.Invocation{Issuer: by.DID(), Subject: sub, Command: cmd, Args: args, Nonce: ucan.NewNonce()}
	for _, p := range prf {
		inv.Proofs = append(inv.Proofs, p.CID)
	}
	tok, err := inv.Seal(by, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func argsMap(t testing.TB, kv ...any) datamodel.Node {
	t.Helper()
	n, err := qp.BuildMap(basicnode.Prototype.Any, int64(len(kv)/2), func(ma datamodel.MapAssembler) {
		for i := 0; i < len(kv); i += 2 {
			switch v := kv[i+1].(type) {
			case string:
				qp.MapEntry(ma, kv[i].(string), qp.String(v))
			case int:
				qp.MapEntry(ma, kv[i].(string), qp.Int(int64(v)))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func wantName(t *testing.T, err error, name string) {
	t.Helper()
	if name == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var ue *ucan.Error
	if !errors.As(err, &ue) || ue.Name != name {
		t.Fatalf("error %v, want %s", err, name)
	}
}

func TestValidateChains(t *testing.T) {
	space := gen(t, did.GenerateEd25519)
	agent := gen(t, did.GenerateP256)
	device := gen(t, did.GenerateSecp256k1)
	other := gen(t, did.GenerateEd25519)
	sub := space.DID()
	pol, err := policy.ParseJSON([]byte(`[["like", ".path", "store/*"]]`))
	if err != nil {
		t.Fatal(err)
	}
	good := argsMap(t, "path", "store/bag1")

	root := delegate(t, space, agent.DID(), sub, "/dag")
	leaf := delegate(t, agent, device.DID(), sub, "/dag/put", func(d *ucan.Delegation) { d.Policy = pol })
	powerline := delegate(t, agent, device.DID(), "", "/dag")
	narrowRoot := delegate(t, space, agent.DID(), sub, "/dag/get")
	expiring := delegate(t, space, agent.DID(), sub, "/dag", func(d *ucan.Delegation) { d.Expiration = i64(testNow) })
	future := delegate(t, space, agent.DID(), sub, "/dag", func(d *ucan.Delegation) { d.NotBefore = i64(testNow + 1) })
	notSelfRoot := delegate(t, other, agent.DID(), sub, "/dag")
	powerRoot := delegate(t, space, agent.DID(), "", "/dag")
	selfInv := invoke(t, space, sub, "/dag/put", good)

	tests := []struct {
		name  string
		inv   *ucan.Token
		prf   []*ucan.Token
		now   int64
		error string
	}{
		{"self-issued needs no proof", selfInv, nil, testNow, ""},
		{"two-proof chain, mixed key types", invoke(t, device, sub, "/dag/put", good, root, leaf), []*ucan.Token{root, leaf}, testNow, ""},
		{"leaf-first order accepted", invoke(t, device, sub, "/dag/put", good, leaf, root), []*ucan.Token{root, leaf}, testNow, ""},
		{"powerline in the middle", invoke(t, device, sub, "/dag/get", good, root, powerline), []*ucan.Token{root, powerline}, testNow, ""},
		{"powerline as root", invoke(t, agent, sub, "/dag/get", good, powerRoot), []*ucan.Token{powerRoot}, testNow, ucan.InvalidClaim},
		{"invocation attenuates the command", invoke(t, agent, sub, "/dag/put/x", good, root), []*ucan.Token{root}, testNow, ""},
		{"command not covered", invoke(t, agent, sub, "/dag/put", good, narrowRoot), []*ucan.Token{narrowRoot}, testNow, ucan.MatchError},
		{"command prefix is not a segment", invoke(t, agent, sub, "/dagger", good, root), []*ucan.Token{root}, testNow, ucan.MatchError},
		{"policy violated", invoke(t, device, sub, "/dag/put", argsMap(t, "path", "upload/x"), root, leaf), []*ucan.Token{root, leaf}, testNow, ucan.MatchError},
		{"policy needs the arg", invoke(t, device, sub, "/dag/put", nil, root, leaf), []*ucan.Token{root, leaf}, testNow, ucan.MatchError},
		{"exp is inclusive", invoke(t, agent, sub, "/dag/get", good, expiring), []*ucan.Token{expiring}, testNow, ""},
		{"expired one second later", invoke(t, agent, sub, "/dag/get", good, expiring), []*ucan.Token{expiring}, testNow + 1, ucan.Expired},
		{"nbf in the future", invoke(t, agent, sub, "/dag/get", good, future), []*ucan.Token{future}, testNow, ucan.TooEarly},
		{"nbf reached", invoke(t, agent, sub, "/dag/get", good, future), []*ucan.Token{future}, testNow + 1, ""},
		{"root not issued by its subject", invoke(t, agent, sub, "/dag/get", good, notSelfRoot), []*ucan.Token{notSelfRoot}, testNow, ucan.InvalidAudience},
		{"wrong invoker", invoke(t, other, sub, "/dag/get", good, root), []*ucan.Token{root}, testNow, ucan.InvalidAudience},
		{"broken chain", invoke(t, device, sub, "/dag/put", good, leaf), []*ucan.Token{leaf}, testNow, ucan.InvalidAudience},
		{"subject mismatch", invoke(t, agent, other.DID(), "/dag/get", good, root), []*ucan.Token{root}, testNow, ucan.InvalidSubject},
		{"missing proof", invoke(t, agent, sub, "/dag/get", good, root), nil, testNow, ucan.UnavailableProof},
		{"proof is an invocation", invoke(t, agent, sub, "/dag/get", good, selfInv), []*ucan.Token{selfInv}, testNow, ucan.InvalidClaim},
		{"no proofs, not the subject", invoke(t, agent, sub, "/dag/get", good), nil, testNow, ucan.InvalidClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := ucan.NewValidator(at(tt.now))
			wantName(t, v.Validate(tt.inv, ucan.NewProofs(tt.prf...)), tt.error)
		})
	}
}

func TestValidateExpiredInvocation(t *testing.T) {
	s := gen(t, did.GenerateEd25519)
	inv := &ucan.Invocation{Subject: s.DID(), Command: "/dag/get", Expiration: i64(testNow)}
	tok, err := inv.Seal(s, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantName(t, ucan.NewValidator(at(testNow)).Validate(tok, nil), "")
	wantName(t, ucan.NewValidator(at(testNow+1)).Validate(tok, nil), ucan.Expired)
}

func TestValidateClockSkew(t *testing.T) {
	space := gen(t, did.GenerateEd25519)
	agent := gen(t, did.GenerateEd25519)
	exp := delegate(t, space, agent.DID(), space.DID(), "/", func(d *ucan.Delegation) { d.Expiration = i64(testNow) })
	nbf := delegate(t, space, agent.DID(), space.DID(), "/", func(d *ucan.Delegation) { d.NotBefore = i64(testNow) })
	skewed := func(now int64) *ucan.Validator {
		return ucan.NewValidator(ucan.ValidatorOptions{
			Now:       func() time.Time { return time.Unix(now, 0) },
			ClockSkew: time.Minute,
		})
	}
	wantName(t, skewed(testNow+60).Validate(invoke(t, agent, space.DID(), "/a", nil, exp), ucan.NewProofs(exp)), "")
	wantName(t, skewed(testNow+61).Validate(invoke(t, agent, space.DID(), "/a", nil, exp), ucan.NewProofs(exp)), ucan.Expired)
	wantName(t, skewed(testNow-60).Validate(invoke(t, agent, space.DID(), "/a", nil, nbf), ucan.NewProofs(nbf)), "")
	wantName(t, skewed(testNow-61).Validate(invoke(t, agent, space.DID(), "/a", nil, nbf), ucan.NewProofs(nbf)), ucan.TooEarly)
}

func TestValidateDepthLimit(t *testing.T) {
	signers := []did.Signer{gen(t, did.GenerateEd25519)}
	sub := signers[0].DID()
	var chain []*ucan.Token
	for i := 0; i <= ucan.MaxProofDepth; i++ {
		next := gen(t, did.GenerateEd25519)
		chain = append(chain, delegate(t, signers[i], next.DID(), sub, "/"))
		signers = append(signers, next)
	}
	last := signers[len(signers)-1]
	wantName(t, ucan.NewValidator(at(testNow)).Validate(invoke(t, last, sub, "/x", nil, chain[:ucan.MaxProofDepth]...), ucan.NewProofs(chain...)), ucan.InvalidAudience)
	// A full chain of MaxProofDepth proofs is fine …
	okInv := invoke(t, signers[ucan.MaxProofDepth], sub, "/x", nil, chain[:ucan.MaxProofDepth]...)
	wantName(t, ucan.NewValidator(at(testNow)).Validate(okInv, ucan.NewProofs(chain...)), "")
	// … one more is refused, already when sealing.
	over := &ucan.Invocation{Subject: sub, Command: "/x"}
	for _, c := range chain {
		over.Proofs = append(over.Proofs, c.CID)
	}
	if _, err := over.Seal(last, ucan.SealOptions{}); !errors.Is(err, ucan.ErrInvalidField) {
		t.Fatalf("sealing %d proofs: %v", len(chain), err)
	}
}

// TestValidateInvocation checks the invocation's own checks, without a chain: a delegate's
// invocation with no proofs passes, a tampered or expired one does not, and proofs it
// names are not loaded.
func TestValidateInvocation(t *testing.T) {
	service := gen(t, did.GenerateEd25519)
	agent := gen(t, did.GenerateEd25519)
	v := ucan.NewValidator(ucan.ValidatorOptions{Now: func() time.Time { return time.Unix(testNow, 0) }, ClockSkew: time.Minute})
	unproven := invoke(t, agent, service.DID(), "/dag/get", nil)
	wantName(t, v.ValidateInvocation(unproven), "")
	// Validate still wants a chain for the same invocation.
	wantName(t, v.Validate(unproven, nil), ucan.InvalidClaim)

	tampered := bytes.Clone(unproven.Raw)
	tampered[5] ^= 0x80
	bad, err := ucan.Decode(tampered)
	if err != nil {
		t.Fatal(err)
	}
	wantName(t, v.ValidateInvocation(bad), ucan.InvalidSignature)

	expiring := func(exp int64) *ucan.Token {
		in := &ucan.Invocation{Issuer: agent.DID(), Subject: service.DID(), Command: "/dag/get", Expiration: i64(exp), Nonce: ucan.NewNonce()}
		tok, err := in.Seal(agent, ucan.SealOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	wantName(t, v.ValidateInvocation(expiring(testNow-60)), "")
	wantName(t, v.ValidateInvocation(expiring(testNow-61)), ucan.Expired)

	// A named proof that cannot be loaded does not matter: no proof is consulted.
	root := delegate(t, service, agent.DID(), service.DID(), "/dag/get")
	wantName(t, v.ValidateInvocation(invoke(t, agent, service.DID(), "/dag/get", nil, root)), "")

	delegation := delegate(t, service, agent.DID(), service.DID(), "/")
	wantName(t, v.ValidateInvocation(delegation), ucan.InvalidClaim)
	wantName(t, v.ValidateInvocation(nil), ucan.InvalidClaim)
}

type failingLoader struct{}

func (failingLoader) LoadProof(c cid.Cid) (*ucan.Token, error) { return nil, fmt.Errorf("offline") }

func TestValidateLoaderErrors(t *testing.T) {
	space := gen(t, did.GenerateEd25519)
	agent := gen(t, did.GenerateEd25519)
	root := delegate(t, space, agent.DID(), space.DID(), "/")
	inv := invoke(t, agent, space.DID(), "/a", nil, root)
	v := ucan.NewValidator(at(testNow))
	wantName(t, v.Validate(inv, failingLoader{}), ucan.UnavailableProof)
	wantName(t, v.Validate(inv, nil), ucan.UnavailableProof)
	// A loader that answers with a different token than asked for.
	other := delegate(t, space, agent.DID(), space.DID(), "/")
	wantName(t, v.Validate(inv, ucan.Proofs{root.CID: other}), ucan.UnavailableProof)
	wantName(t, v.Validate(root, nil), ucan.InvalidClaim)
	wantName(t, v.Validate(nil, nil), ucan.InvalidClaim)
}

func TestValidateTamperedSignatures(t *testing.T) {
	space := gen(t, did.GenerateEd25519)
	agent := gen(t, did.GenerateEd25519)
	root := delegate(t, space, agent.DID(), space.DID(), "/")
	inv := invoke(t, agent, space.DID(), "/a", nil, root)
	tamper := func(tok *ucan.Token) *ucan.Token {
		raw := bytes.Clone(tok.Raw)
		raw[5] ^= 0x80
		out, err := ucan.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	badRoot := tamper(root)
	badInv := invoke(t, agent, space.DID(), "/a", nil, badRoot)
	v := ucan.NewValidator(at(testNow))
	wantName(t, v.Validate(tamper(inv), ucan.NewProofs(root)), ucan.InvalidSignature)
	wantName(t, v.Validate(badInv, ucan.NewProofs(badRoot)), ucan.InvalidSignature)
	// A good proof validated (and cached) first does not make a tampered one pass.
	wantName(t, v.Validate(inv, ucan.NewProofs(root)), "")
	wantName(t, v.Validate(badInv, ucan.NewProofs(badRoot)), ucan.InvalidSignature)
}

func TestCommandCovers(t *testing.T) {
	tests := []struct {
		parent, child string
		want          bool
	}{
		{"/", "/", true},
		{"/", "/anything/at/all", true},
		{"/crypto", "/crypto", true},
		{"/crypto", "/crypto/sign", true},
		{"/crypto", "/cryptocurrency", false},
		{"/crypto/sign", "/crypto", false},
		{"/dag", "/dag/put", true},
		{"/dag/get", "/dag/put", false},
		{"/ほげ", "/ほげ/ふが", true},
	}
	for _, tt := range tests {
		if got := ucan.CommandCovers(tt.parent, tt.child); got != tt.want {
			t.Errorf("CommandCovers(%q, %q) = %v, want %v", tt.parent, tt.child, got, tt.want)
		}
	}
	for cmd, ok := range map[string]bool{"/": true, "/a/b": true, "": false, "a": false, "/a/": false, "/a//b": false, "/A": false} {
		if err := ucan.ValidateCommand(cmd); (err == nil) != ok {
			t.Errorf("ValidateCommand(%q) = %v", cmd, err)
		}
	}
}

func TestSealRoundTrip(t *testing.T) {
	s := gen(t, did.GenerateEd25519)
	link := cidlink.Link{Cid: s2cid(t, "bafyreigyftnzjf4rcu7glp5kfop53vqlopc3zcldauoqdxqlz7t4343gr4")}
	meta, err := qp.BuildMap(basicnode.Prototype.Any, 6, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "zeta", qp.Float(1.5))
		qp.MapEntry(ma, "a", qp.Bytes([]byte{1, 2}))
		qp.MapEntry(ma, "bb", qp.Link(link))
		qp.MapEntry(ma, "neg", qp.Int(-300))
		qp.MapEntry(ma, "list", qp.List(2, func(la datamodel.ListAssembler) {
			qp.ListEntry(la, qp.Null())
			qp.ListEntry(la, qp.Bool(true))
		}))
		qp.MapEntry(ma, "ccc", qp.String("ü"))
	})
	if err != nil {
		t.Fatal(err)
	}
	cause := link.Cid
	inv := &ucan.Invocation{
		Subject: s.DID(), Audience: "did:web:example.com", Command: "/dag/put", Args: meta, Meta: meta,
		Proofs: []cid.Cid{cause}, Expiration: i64(-5), IssuedAt: i64(testNow), Cause: &cause, Nonce: []byte{},
	}
	for _, rc1 := range []bool{false, true} {
		tok, err := inv.Seal(s, ucan.SealOptions{RC1: rc1})
		if err != nil {
			t.Fatal(err)
		}
		got := tok.Invocation
		if got.Issuer != s.DID() || got.Audience != inv.Audience || *got.Expiration != -5 || *got.IssuedAt != testNow ||
			!got.Cause.Equals(cause) || len(got.Proofs) != 1 || len(got.Nonce) != 0 {
			t.Fatalf("round trip: %+v", got)
		}
		if !sameDAGCBOR(t, got.Args, meta) || !sameDAGCBOR(t, got.Meta, meta) {
			t.Fatal("args/meta changed in the round trip")
		}
		t1, _ := inv.Task()
		t2, _ := got.Task()
		if !t1.Equals(t2) {
			t.Fatal("task changed in the round trip")
		}
	}
	// Delegations: powerline, nbf, meta, null exp.
	d := &ucan.Delegation{Audience: s.DID(), Command: "/", Nonce: ucan.NewNonce(), Meta: meta, NotBefore: i64(1)}
	tok, err := d.Seal(s, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g := tok.Delegation; g.Subject != "" || g.Expiration != nil || *g.NotBefore != 1 || !sameDAGCBOR(t, g.Meta, meta) {
		t.Fatalf("delegation round trip: %+v", g)
	}
}

// TestDelegationNonceAnyLength seals delegations whose nonces are shorter than the 12
// bytes the spec recommends (it says a nonce MAY be any value), decodes them back from
// their bytes, verifies their signatures and validates an invocation they prove.
func TestDelegationNonceAnyLength(t *testing.T) {
	space := gen(t, did.GenerateEd25519)
	agent := gen(t, did.GenerateEd25519)
	for _, n := range []int{8, 0, 1, 11, 12, 32} {
		t.Run(fmt.Sprintf("%d bytes", n), func(t *testing.T) {
			nonce := bytes.Repeat([]byte{byte(n)}, n)
			sealed, err := (&ucan.Delegation{Audience: agent.DID(), Subject: space.DID(), Command: "/dag", Nonce: nonce}).Seal(space, ucan.SealOptions{})
			if err != nil {
				t.Fatalf("sealing a delegation with a %d-byte nonce: %v", n, err)
			}
			tok, err := ucan.Decode(sealed.Raw)
			if err != nil {
				t.Fatalf("decoding a delegation with a %d-byte nonce: %v", n, err)
			}
			if err := tok.VerifySignature(); err != nil {
				t.Fatal(err)
			}
			if got := tok.Delegation.Nonce; got == nil || !bytes.Equal(got, nonce) || !tok.CID.Equals(sealed.CID) {
				t.Fatalf("decoded nonce %x (nil %v), CID %s; want %x, %s", got, got == nil, tok.CID, nonce, sealed.CID)
			}
			inv := invoke(t, agent, space.DID(), "/dag/put", argsMap(t, "path", "store/x"), tok)
			wantName(t, ucan.NewValidator(at(testNow)).Validate(inv, ucan.NewProofs(tok)), "")
		})
	}
}

func TestTask(t *testing.T) {
	a := gen(t, did.GenerateEd25519)
	b := gen(t, did.GenerateEd25519)
	args := argsMap(t, "path", "store/x")
	i1 := &ucan.Invocation{Issuer: a.DID(), Subject: a.DID(), Command: "/dag/get", Args: args, Nonce: []byte{1}}
	i2 := &ucan.Invocation{Issuer: b.DID(), Subject: a.DID(), Command: "/dag/get", Args: args, Nonce: []byte{1}, Proofs: []cid.Cid{s2cid(t, "bafyreigyftnzjf4rcu7glp5kfop53vqlopc3zcldauoqdxqlz7t4343gr4")}}
	i3 := &ucan.Invocation{Issuer: a.DID(), Subject: a.DID(), Command: "/dag/get", Args: args, Nonce: []byte{2}}
	t1, err := i1.Task()
	if err != nil {
		t.Fatal(err)
	}
	t2, _ := i2.Task()
	t3, _ := i3.Task()
	if !t1.Equals(t2) || t1.Equals(t3) {
		t.Fatalf("tasks %s %s %s", t1, t2, t3)
	}
	if t1.Prefix().Codec != cid.DagCBOR || t1.Version() != 1 {
		t.Fatalf("task CID %s is not CIDv1 dag-cbor", t1)
	}
}

func TestSealRejects(t *testing.T) {
	s := gen(t, did.GenerateEd25519)
	other := gen(t, did.GenerateEd25519)
	list := basicnode.NewString("x")
	tests := []struct {
		name string
		seal func() error
		want error
	}{
		{"issuer is not the signer", func() error {
			_, err := (&ucan.Invocation{Issuer: other.DID(), Subject: s.DID(), Command: "/a"}).Seal(s, ucan.SealOptions{})
			return err
		}, ucan.ErrInvalidField},
		{"no subject", func() error {
			_, err := (&ucan.Invocation{Command: "/a"}).Seal(s, ucan.SealOptions{})
			return err
		}, ucan.ErrMissingField},
		{"args not a map", func() error {
			_, err := (&ucan.Invocation{Subject: s.DID(), Command: "/a", Args: list}).Seal(s, ucan.SealOptions{})
			return err
		}, ucan.ErrInvalidField},
		{"bad command", func() error {
			_, err := (&ucan.Invocation{Subject: s.DID(), Command: "a"}).Seal(s, ucan.SealOptions{})
			return err
		}, ucan.ErrInvalidField},
		{"delegation without nonce", func() error {
			_, err := (&ucan.Delegation{Audience: s.DID(), Command: "/"}).Seal(s, ucan.SealOptions{})
			return err
		}, ucan.ErrMissingField},
		{"delegation without audience", func() error {
			_, err := (&ucan.Delegation{Command: "/", Nonce: ucan.NewNonce()}).Seal(s, ucan.SealOptions{})
			return err
		}, ucan.ErrMissingField},
		{"exp out of range", func() error {
			_, err := (&ucan.Delegation{Audience: s.DID(), Command: "/", Nonce: ucan.NewNonce(), Expiration: i64(1 << 53)}).Seal(s, ucan.SealOptions{})
			return err
		}, ucan.ErrInvalidField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.seal(); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func s2cid(t testing.TB, s string) cid.Cid {
	t.Helper()
	c, err := cid.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sameDAGCBOR compares two nodes by their go-ipld-prime DAG-CBOR encodings (which sort map
// keys), an encoder independent of this package's.
func sameDAGCBOR(t testing.TB, a, b datamodel.Node) bool {
	t.Helper()
	var ba, bb bytes.Buffer
	if err := dagcbor.Encode(a, &ba); err != nil {
		t.Fatal(err)
	}
	if err := dagcbor.Encode(b, &bb); err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ba.Bytes(), bb.Bytes())
}

// TestValidateConcurrent shares one Validator (and its cache) between goroutines; run with
// -race.
func TestValidateConcurrent(t *testing.T) {
	space := gen(t, did.GenerateEd25519)
	agent := gen(t, did.GenerateEd25519)
	root := delegate(t, space, agent.DID(), space.DID(), "/")
	v := ucan.NewValidator(ucan.ValidatorOptions{Now: func() time.Time { return time.Unix(testNow, 0) }, CacheSize: 1})
	invs := make([]*ucan.Token, 8)
	for i := range invs {
		invs[i] = invoke(t, agent, space.DID(), "/a", nil, root)
	}
	errs := make(chan error, len(invs))
	for _, inv := range invs {
		go func() {
			var err error
			for i := 0; i < 5 && err == nil; i++ {
				err = v.Validate(inv, ucan.NewProofs(root))
			}
			errs <- err
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
