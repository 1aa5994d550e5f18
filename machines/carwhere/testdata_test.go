package carwhere

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

var update = flag.Bool("update", false, "rewrite testdata/claims")

// Fixed inputs of the claim testdata: the service key and the time the claims are read at.
var (
	fixtureSeed = bytes.Repeat([]byte{0x42}, 32)
	fixtureNow  = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
)

func fixtureService(t testing.TB) did.Signer {
	t.Helper()
	s, err := did.Ed25519FromSeed(fixtureSeed)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claimFixtures are the good and deliberately broken claims in testdata/claims, each with
// whether VerifyClaim accepts it at fixtureNow.
var claimFixtures = []struct {
	file string
	ok   bool
}{
	{"valid.ucan", true},
	{"expired.ucan", false},
	{"other-issuer.ucan", false},
	{"wrong-command.ucan", false},
	{"no-location.ucan", false},
	{"content-not-link.ucan", false},
	{"no-expiry.ucan", false},
}

// makeFixture seals the claim of one fixture file.
func makeFixture(t testing.TB, file string) []byte {
	t.Helper()
	svc := fixtureService(t)
	c := carCID(t, "fixture car")
	iat := fixtureNow.Add(-time.Minute).Unix()
	exp := fixtureNow.Add(time.Hour).Unix()
	signer := svc
	cmd := ClaimCommand
	args, _ := claimArgs(c, []string{"https://w3dag.example/blob/" + c.String()}, 1234)
	expP := &exp
	switch file {
	case "expired.ucan":
		exp = fixtureNow.Add(-time.Second).Unix()
	case "other-issuer.ucan":
		signer, _ = did.Ed25519FromSeed(bytes.Repeat([]byte{0x43}, 32))
	case "wrong-command.ucan":
		cmd = "/assert/partition"
	case "no-location.ucan":
		args, _ = qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "content", qp.Link(cidlink.Link{Cid: c}))
		})
	case "content-not-link.ucan":
		args, _ = qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "content", qp.String(c.String()))
			qp.MapEntry(ma, "location", qp.List(1, func(la datamodel.ListAssembler) { qp.ListEntry(la, qp.String("https://x")) }))
		})
	case "no-expiry.ucan":
		expP = nil
	}
	inv := &ucan.Invocation{Issuer: signer.DID(), Subject: signer.DID(), Command: cmd, Args: args, Expiration: expP, IssuedAt: &iat}
	tok, err := inv.Seal(signer, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Raw
}

// TestClaimTestdata verifies the stored claims (go test -run TestClaimTestdata -update
// writes them).
func TestClaimTestdata(t *testing.T) {
	svc := fixtureService(t)
	for _, fx := range claimFixtures {
		path := filepath.Join("testdata", "claims", fx.file)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, makeFixture(t, fx.file), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ucan.Decode(raw)
		if err != nil {
			t.Fatalf("%s: %v", fx.file, err)
		}
		cl, err := VerifyClaim(tok, svc.DID(), fixtureNow)
		if fx.ok != (err == nil) {
			t.Errorf("%s: VerifyClaim = %v, want ok=%v", fx.file, err, fx.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidClaim) {
			t.Errorf("%s: error %v does not wrap ErrInvalidClaim", fx.file, err)
		}
		if fx.ok && (cl.Size != 1234 || len(cl.Location) != 1) {
			t.Errorf("%s: claim %+v", fx.file, cl)
		}
	}
}

// FuzzVerifyClaim feeds arbitrary token bytes to VerifyClaim (claims are what clients
// receive from GET /claims): it must fail cleanly or return a complete claim.
func FuzzVerifyClaim(f *testing.F) {
	for _, fx := range claimFixtures {
		if raw, err := os.ReadFile(filepath.Join("testdata", "claims", fx.file)); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte{})
	svc := fixtureService(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		tok, err := ucan.Decode(raw)
		if err != nil {
			return
		}
		cl, err := VerifyClaim(tok, svc.DID(), fixtureNow)
		if err != nil {
			if !errors.Is(err, ErrInvalidClaim) {
				t.Fatalf("error %v does not wrap ErrInvalidClaim", err)
			}
			return
		}
		if !cl.Content.Defined() || len(cl.Location) == 0 || !fixtureNow.Before(cl.Expires) {
			t.Fatalf("accepted an incomplete claim %+v", cl)
		}
	})
}
