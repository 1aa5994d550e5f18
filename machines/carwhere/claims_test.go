package carwhere

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

func TestClaims(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t)
	c := carCID(t, "claimed")
	if _, err := v.record(c, 42, fsLoc(c)); err != nil {
		t.Fatal(err)
	}
	now := v.now
	clock := func() time.Time { return now }
	cl := NewClaims(v.e, v.service, ClaimsOptions{TTL: 30 * time.Minute, Clock: clock})

	toks, err := cl.Claims(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 1 {
		t.Fatalf("%d claims, want 1", len(toks))
	}
	// The claim decodes from its bytes, verifies with the service key and says where.
	tok, err := ucan.Decode(toks[0].Raw)
	if err != nil {
		t.Fatal(err)
	}
	claim, err := VerifyClaim(tok, v.service.DID(), now)
	if err != nil {
		t.Fatal(err)
	}
	if !claim.Content.Equals(c) || claim.Size != 42 || len(claim.Location) != 1 || claim.Location[0] != "http://svc.example/blob/"+c.String() {
		t.Fatalf("claim %+v", claim)
	}
	if want := now.Add(30 * time.Minute).Truncate(time.Second); !claim.Expires.Equal(want) {
		t.Fatalf("expires %s, want %s", claim.Expires, want)
	}
	// It expires when it says.
	if _, err := VerifyClaim(tok, v.service.DID(), claim.Expires.Add(-time.Second)); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	if _, err := VerifyClaim(tok, v.service.DID(), claim.Expires); !errors.Is(err, ErrInvalidClaim) {
		t.Fatalf("at expiry: %v", err)
	}
	// Signed by the service, not anyone else.
	other, _ := did.GenerateEd25519()
	if _, err := VerifyClaim(tok, other.DID(), now); !errors.Is(err, ErrInvalidClaim) {
		t.Fatalf("other issuer: %v", err)
	}
	forged := *tok.Invocation
	forged.Issuer, forged.Subject = other.DID(), other.DID()
	ftok, err := forged.Seal(other, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyClaim(ftok, v.service.DID(), now); !errors.Is(err, ErrInvalidClaim) {
		t.Fatalf("claim signed by another key: %v", err)
	}

	// Cached: the same token until ClaimRenewBefore ahead of expiry.
	now = now.Add(30*time.Minute - ClaimRenewBefore - time.Second)
	again, err := cl.Claims(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !again[0].CID.Equals(toks[0].CID) {
		t.Fatal("claim not cached before its renewal time")
	}
	now = now.Add(time.Second)
	fresh, err := cl.Claims(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if fresh[0].CID.Equals(toks[0].CID) {
		t.Fatal("claim not renewed close to its expiry")
	}
	fc, err := VerifyClaim(fresh[0], v.service.DID(), now)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(30 * time.Minute).Truncate(time.Second); !fc.Expires.Equal(want) {
		t.Fatalf("renewed claim expires %s, want %s", fc.Expires, want)
	}

	// A new location changes the entry: the cache is bypassed and both locations claimed.
	s3 := S3Locator(S3Bucket{Bucket: "bk", Region: "r"})(c)
	if _, err := v.record(c, 42, s3); err != nil {
		t.Fatal(err)
	}
	two, err := cl.Claims(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(two) != 2 {
		t.Fatalf("%d claims after adding a location, want 2", len(two))
	}

	// Unknown CARs and non-CAR CIDs.
	if _, err := cl.Claims(ctx, carCID(t, "nowhere")); !errors.Is(err, dag.ErrNotFound) {
		t.Fatalf("unknown CAR: %v", err)
	}
	if _, err := cl.Claims(ctx, cid.NewCidV1(cid.Raw, c.Hash())); !errors.Is(err, ErrNotCAR) {
		t.Fatalf("raw CID: %v", err)
	}
}

func TestClaimsCacheBounded(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t)
	cl := NewClaims(v.e, v.service, ClaimsOptions{CacheSize: 3, Clock: func() time.Time { return v.now }})
	for i := range 10 {
		c := carCID(t, string(rune('a'+i)))
		if _, err := v.record(c, int64(i), fsLoc(c)); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Claims(ctx, c); err != nil {
			t.Fatal(err)
		}
		if n := cl.cacheLen(); n > 3 {
			t.Fatalf("cache holds %d CARs, limit 3", n)
		}
	}
	if cl.cacheLen() != 3 {
		t.Fatalf("cache holds %d, want 3", cl.cacheLen())
	}
}

func TestClaimsShortTTL(t *testing.T) {
	cl := NewClaims(nil, nil, ClaimsOptions{TTL: time.Minute})
	if got := cl.renewAfter(); got != 30*time.Second {
		t.Fatalf("renewAfter with a 1 min TTL = %s, want 30s", got)
	}
	cl = NewClaims(nil, nil, ClaimsOptions{})
	if got := cl.renewAfter(); got != DefaultClaimTTL-ClaimRenewBefore {
		t.Fatalf("default renewAfter = %s", got)
	}
}
