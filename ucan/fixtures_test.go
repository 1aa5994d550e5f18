package ucan_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/internal/fixtures"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// fixtureDir returns ../shared/fixtures/ucan relative to the module root, or skips.
func fixtureDir(t testing.TB) string {
	t.Helper()
	return fixtures.Path(t, "ucan")
}

func readFixture(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

type delegationFixtures struct {
	Principals map[string]string `json:"principals"`
	Valid      []struct {
		Name     string `json:"name"`
		Token    []byte `json:"token"`
		CID      string `json:"cid"`
		Envelope struct {
			Payload struct {
				Iss   string  `json:"iss"`
				Aud   string  `json:"aud"`
				Sub   *string `json:"sub"`
				Cmd   string  `json:"cmd"`
				Pol   []any   `json:"pol"`
				Exp   *int64  `json:"exp"`
				Nbf   *int64  `json:"nbf"`
				Nonce []byte  `json:"nonce"`
			} `json:"payload"`
			Signature []byte `json:"signature"`
			Alg       string `json:"alg"`
		} `json:"envelope"`
	} `json:"valid"`
}

// fixtureSigners decodes the fixture principals' private keys, keyed by DID.
func fixtureSigners(t testing.TB, principals map[string]string) map[string]did.Signer {
	t.Helper()
	out := map[string]did.Signer{}
	for name, k := range principals {
		s, err := did.DecodePrivateKey(k)
		if err != nil {
			t.Fatalf("principal %s: %v", name, err)
		}
		out[s.DID()] = s
	}
	return out
}

func TestDelegationFixtures(t *testing.T) {
	var fx delegationFixtures
	readFixture(t, "delegation.json", &fx)
	signers := fixtureSigners(t, fx.Principals)
	if len(fx.Valid) == 0 {
		t.Fatal("no delegation fixtures")
	}
	for _, c := range fx.Valid {
		t.Run(c.Name, func(t *testing.T) {
			tok, err := ucan.Decode(c.Token)
			if err != nil {
				t.Fatal(err)
			}
			if tok.CID.String() != c.CID {
				t.Fatalf("CID %s, want %s", tok.CID, c.CID)
			}
			if !bytes.Equal(tok.Raw, c.Token) {
				t.Fatal("Raw differs from the input")
			}
			if tok.Tag != ucan.TagDelegation || tok.Delegation == nil || tok.Invocation != nil {
				t.Fatalf("tag %q delegation %v", tok.Tag, tok.Delegation != nil)
			}
			if !bytes.Equal(tok.Signature, c.Envelope.Signature) {
				t.Fatalf("signature %x, want %x", tok.Signature, c.Envelope.Signature)
			}
			if err := tok.VerifySignature(); err != nil {
				t.Fatal(err)
			}
			p, d := c.Envelope.Payload, tok.Delegation
			wantSub := ""
			if p.Sub != nil {
				wantSub = *p.Sub
			}
			if d.Issuer != p.Iss || d.Audience != p.Aud || d.Subject != wantSub || d.Command != p.Cmd {
				t.Fatalf("payload %+v, want %+v", d, p)
			}
			if !bytes.Equal(d.Nonce, p.Nonce) || !eqTime(d.Expiration, p.Exp) || !eqTime(d.NotBefore, p.Nbf) {
				t.Fatalf("nonce/exp/nbf %x %v %v, want %x %v %v", d.Nonce, d.Expiration, d.NotBefore, p.Nonce, p.Exp, p.Nbf)
			}
			if len(d.Policy) != len(p.Pol) {
				t.Fatalf("policy has %d statements, want %d", len(d.Policy), len(p.Pol))
			}
			s := signers[d.Issuer]
			if s == nil {
				t.Fatalf("no fixture key for issuer %s", d.Issuer)
			}
			resealed, err := d.Seal(s, ucan.SealOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(resealed.Raw, c.Token) {
				t.Fatalf("re-sealed bytes differ:\n got %x\nwant %x", resealed.Raw, c.Token)
			}
			assertRC1RoundTrip(t, tok, s)
		})
	}
}

func eqTime(a, b *int64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// assertRC1RoundTrip re-seals tok with -rc.1 tags, decodes it and re-seals it with @1.0.0
// tags, which must give back tok's exact bytes.
func assertRC1RoundTrip(t *testing.T, tok *ucan.Token, s did.Signer) {
	t.Helper()
	var rc *ucan.Token
	var err error
	if tok.Delegation != nil {
		rc, err = tok.Delegation.Seal(s, ucan.SealOptions{RC1: true})
	} else {
		rc, err = tok.Invocation.Seal(s, ucan.SealOptions{RC1: true})
	}
	if err != nil {
		t.Fatal(err)
	}
	wantTag := map[string]string{ucan.TagDelegation: ucan.TagDelegationRC1, ucan.TagInvocation: ucan.TagInvocationRC1}[tok.Tag]
	if rc.Tag != wantTag {
		t.Fatalf("RC1 tag %q, want %q", rc.Tag, wantTag)
	}
	if !bytes.Contains(rc.Raw, []byte(wantTag)) {
		t.Fatalf("RC1 envelope lacks %q", wantTag)
	}
	if err := rc.VerifySignature(); err != nil {
		t.Fatal(err)
	}
	again, err := ucan.Decode(rc.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Raw, rc.Raw) || !again.CID.Equals(rc.CID) {
		t.Fatal("RC1 token does not decode to the same bytes and CID")
	}
	var back *ucan.Token
	if again.Delegation != nil {
		back, err = again.Delegation.Seal(s, ucan.SealOptions{})
	} else {
		back, err = again.Invocation.Seal(s, ucan.SealOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Raw, tok.Raw) {
		t.Fatalf("@1.0.0 → rc.1 → @1.0.0 changed the bytes:\n got %x\nwant %x", back.Raw, tok.Raw)
	}
}

type dagBytes struct {
	Slash struct {
		Bytes string `json:"bytes"`
	} `json:"/"`
}

func (b dagBytes) decode(t testing.TB) []byte {
	t.Helper()
	out, err := base64.RawStdEncoding.DecodeString(b.Slash.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type invocationCase struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Invocation  dagBytes   `json:"invocation"`
	Proofs      []dagBytes `json:"proofs"`
	Time        int64      `json:"time"`
	Error       *struct {
		Name string `json:"name"`
	} `json:"error"`
}

type invocationFixtures struct {
	Valid   []invocationCase `json:"valid"`
	Invalid []invocationCase `json:"invalid"`
}

func loadInvocationCase(t testing.TB, c invocationCase) (*ucan.Token, []*ucan.Token) {
	t.Helper()
	inv, err := ucan.Decode(c.Invocation.decode(t))
	if err != nil {
		t.Fatalf("decoding invocation: %v", err)
	}
	var proofs []*ucan.Token
	for i, p := range c.Proofs {
		tok, err := ucan.Decode(p.decode(t))
		if err != nil {
			t.Fatalf("decoding proof %d: %v", i, err)
		}
		proofs = append(proofs, tok)
	}
	return inv, proofs
}

func TestInvocationFixtures(t *testing.T) {
	var fx invocationFixtures
	readFixture(t, "invocation.json", &fx)
	cases := append(append([]invocationCase{}, fx.Valid...), fx.Invalid...)
	if len(cases) != 20 {
		t.Fatalf("invocation.json has %d cases, want 20", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			inv, proofs := loadInvocationCase(t, c)
			at := time.Unix(c.Time, 0)
			v := ucan.NewValidator(ucan.ValidatorOptions{Now: func() time.Time { return at }})
			err := v.Validate(inv, ucan.NewProofs(proofs...))
			if c.Error == nil {
				if err != nil {
					t.Fatalf("%s: unexpected error %v", c.Description, err)
				}
				// Validating again hits the verified-proof cache and must agree.
				if err := v.Validate(inv, ucan.NewProofs(proofs...)); err != nil {
					t.Fatalf("second validation: %v", err)
				}
				return
			}
			var ue *ucan.Error
			if !errors.As(err, &ue) {
				t.Fatalf("%s: error %v, want *ucan.Error %s", c.Description, err, c.Error.Name)
			}
			if ue.Name != c.Error.Name {
				t.Fatalf("%s: error %v, want %s", c.Description, err, c.Error.Name)
			}
		})
	}
}

// TestInvocationFixturesReverseOrder checks that leaf-first proof lists (go-ucan's order)
// validate like root-first ones.
func TestInvocationFixturesReverseOrder(t *testing.T) {
	var fx invocationFixtures
	readFixture(t, "invocation.json", &fx)
	signers := fixtureSigners(t, fixturePrincipalsFromDelegation(t))
	n := 0
	for _, c := range fx.Valid {
		inv, proofs := loadInvocationCase(t, c)
		if len(inv.Invocation.Proofs) < 2 {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			in := *inv.Invocation
			in.Proofs = append([]cid.Cid(nil), in.Proofs...)
			for i, j := 0, len(in.Proofs)-1; i < j; i, j = i+1, j-1 {
				in.Proofs[i], in.Proofs[j] = in.Proofs[j], in.Proofs[i]
			}
			s := signers[in.Issuer]
			if s == nil {
				t.Skipf("no fixture key for %s", in.Issuer)
			}
			rev, err := in.Seal(s, ucan.SealOptions{})
			if err != nil {
				t.Fatal(err)
			}
			at := time.Unix(c.Time, 0)
			v := ucan.NewValidator(ucan.ValidatorOptions{Now: func() time.Time { return at }})
			if err := v.Validate(rev, ucan.NewProofs(proofs...)); err != nil {
				t.Fatalf("reverse-order chain: %v", err)
			}
		})
	}
	if n == 0 {
		t.Fatal("no multi-proof fixture to reverse")
	}
}

func fixturePrincipalsFromDelegation(t testing.TB) map[string]string {
	var fx delegationFixtures
	readFixture(t, "delegation.json", &fx)
	return fx.Principals
}

// TestInvocationFixturesRC1 re-seals every validly signed fixture token with -rc.1 tags and
// back, byte for byte.
func TestInvocationFixturesRC1(t *testing.T) {
	var fx invocationFixtures
	readFixture(t, "invocation.json", &fx)
	signers := fixtureSigners(t, fixturePrincipalsFromDelegation(t))
	seen := map[string]bool{}
	n := 0
	for _, c := range append(append([]invocationCase{}, fx.Valid...), fx.Invalid...) {
		inv, proofs := loadInvocationCase(t, c)
		for _, tok := range append([]*ucan.Token{inv}, proofs...) {
			if seen[tok.CID.KeyString()] || tok.VerifySignature() != nil {
				continue
			}
			seen[tok.CID.KeyString()] = true
			s := signers[tok.Issuer()]
			if s == nil {
				continue
			}
			n++
			t.Run(c.Name+"/"+tok.CID.String(), func(t *testing.T) { assertRC1RoundTrip(t, tok, s) })
		}
	}
	if n < 10 {
		t.Fatalf("only %d fixture tokens re-sealed", n)
	}
}
