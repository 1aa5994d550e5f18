package ucan_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// TestSealDirect checks that a token sealed with SealOptions.Direct is the token Decode
// makes of its bytes, and that Direct rejects what Decode would.
func TestSealDirect(t *testing.T) {
	s := gen(t, did.GenerateEd25519)
	cause := s2cid(t, "bafyreigyftnzjf4rcu7glp5kfop53vqlopc3zcldauoqdxqlz7t4343gr4")
	args := argsMap(t, "path", "store/x")
	meta, err := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "ts", qp.Int(1))
		qp.MapEntry(ma, "seq", qp.Int(2))
	})
	if err != nil {
		t.Fatal(err)
	}
	invs := map[string]*ucan.Invocation{
		"minimal":    {Subject: s.DID(), Command: "/a"},
		"receipt":    {Issuer: s.DID(), Subject: s.DID(), Audience: s.DID(), Command: "/ucan/assert/receipt", Args: args, Meta: meta},
		"all fields": {Subject: s.DID(), Audience: "did:web:example.com", Command: "/dag/put", Args: args, Meta: meta, Proofs: []cid.Cid{cause}, Expiration: i64(7), IssuedAt: i64(testNow), Cause: &cause, Nonce: ucan.NewNonce()},
	}
	for name, inv := range invs {
		for _, rc1 := range []bool{false, true} {
			t.Run(name, func(t *testing.T) {
				tok, err := inv.Seal(s, ucan.SealOptions{RC1: rc1, Direct: true})
				if err != nil {
					t.Fatal(err)
				}
				dec, err := ucan.Decode(tok.Raw)
				if err != nil {
					t.Fatal(err)
				}
				if !tok.CID.Equals(dec.CID) || tok.Tag != dec.Tag || !bytes.Equal(tok.Signature, dec.Signature) ||
					!bytes.Equal(tok.VarsigHeader(), dec.VarsigHeader()) || !bytes.Equal(tok.SignedBytes(), dec.SignedBytes()) {
					t.Fatalf("direct token differs from the decoded one:\n%+v\n%+v", tok, dec)
				}
				if err := tok.VerifySignature(); err != nil {
					t.Fatal(err)
				}
				pd, err := dec.Payload()
				if err != nil {
					t.Fatal(err)
				}
				pt, err := tok.Payload()
				if err != nil {
					t.Fatal(err)
				}
				if !sameDAGCBOR(t, pd, pt) {
					t.Fatal("payloads differ")
				}
				g, w := tok.Invocation, dec.Invocation
				if g.Issuer != w.Issuer || g.Subject != w.Subject || g.Audience != w.Audience || g.Command != w.Command ||
					!bytes.Equal(g.Nonce, w.Nonce) || (g.Nonce == nil) != (w.Nonce == nil) || len(g.Proofs) != len(w.Proofs) ||
					(g.Expiration == nil) != (w.Expiration == nil) || (g.IssuedAt == nil) != (w.IssuedAt == nil) ||
					(g.Cause == nil) != (w.Cause == nil) || (g.Meta == nil) != (w.Meta == nil) {
					t.Fatalf("invocation differs:\n%+v\n%+v", g, w)
				}
				if !sameDAGCBOR(t, g.Args, w.Args) || (g.Meta != nil && !sameDAGCBOR(t, g.Meta, w.Meta)) {
					t.Fatal("args or meta differ")
				}
				t1, _ := g.Task()
				t2, _ := w.Task()
				if !t1.Equals(t2) {
					t.Fatal("task differs")
				}
				if inv.Proofs != nil && &g.Proofs[0] == &inv.Proofs[0] {
					t.Fatal("proofs alias the sealed invocation's")
				}
			})
		}
	}

	huge := argsMap(t, "path", strings.Repeat("x", ucan.MaxTokenSize))
	bad := []struct {
		name string
		inv  *ucan.Invocation
		want error
	}{
		{"subject not a DID", &ucan.Invocation{Subject: "space", Command: "/a"}, ucan.ErrInvalidField},
		{"audience not a DID", &ucan.Invocation{Subject: s.DID(), Audience: "svc", Command: "/a"}, ucan.ErrInvalidField},
		{"too large", &ucan.Invocation{Subject: s.DID(), Command: "/a", Args: huge}, ucan.ErrTooLarge},
		{"bad command", &ucan.Invocation{Subject: s.DID(), Command: "a"}, ucan.ErrInvalidField},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, errDirect := tt.inv.Seal(s, ucan.SealOptions{Direct: true})
			_, errDecode := tt.inv.Seal(s, ucan.SealOptions{})
			if !errors.Is(errDirect, tt.want) || !errors.Is(errDecode, tt.want) {
				t.Fatalf("direct: %v, decoded: %v, want %v", errDirect, errDecode, tt.want)
			}
		})
	}
}

// oddSigner signs with its embedded signer and pads the signature to n bytes, so that the
// envelope's signature is not the usual 64 bytes.
type oddSigner struct {
	did.Signer
	n int
}

func (o oddSigner) Sign(msg []byte) ([]byte, error) {
	sig, err := o.Signer.Sign(msg)
	if err != nil {
		return nil, err
	}
	return append(sig, make([]byte, o.n-len(sig))...), nil
}

// TestSealSignatureLengths seals with signatures shorter and longer than the room sealing
// leaves for them: the envelope parses to the same parts either way.
func TestSealSignatureLengths(t *testing.T) {
	base := gen(t, did.GenerateEd25519)
	for _, n := range []int{64, 65, 300} {
		s := oddSigner{Signer: base, n: n}
		inv := &ucan.Invocation{Subject: base.DID(), Command: "/a", Args: argsMap(t, "path", "x"), Nonce: []byte{1}}
		for _, direct := range []bool{false, true} {
			tok, err := inv.Seal(s, ucan.SealOptions{Direct: direct})
			if err != nil {
				t.Fatalf("%d bytes, direct %v: %v", n, direct, err)
			}
			dec, err := ucan.Decode(tok.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if len(tok.Signature) != n || !bytes.Equal(tok.Signature, dec.Signature) || !bytes.Equal(tok.SignedBytes(), dec.SignedBytes()) ||
				!bytes.Equal(tok.VarsigHeader(), dec.VarsigHeader()) || !tok.CID.Equals(dec.CID) || tok.Invocation.Command != "/a" {
				t.Fatalf("%d bytes, direct %v: token parts differ from the decoded ones", n, direct)
			}
			sig, _ := base.Sign(tok.SignedBytes())
			if !bytes.Equal(sig, tok.Signature[:64]) {
				t.Fatalf("%d bytes, direct %v: signature is not over the signed bytes", n, direct)
			}
		}
	}
}
