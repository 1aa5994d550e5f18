package conformance

import (
	"context"
	"errors"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multibase"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
	"github.com/w3dag/w3dag/ucan/policy"
)

// noWrite checks that a failed put left no entry behind.
func (e *env) noWrite(ctx context.Context, p string) {
	e.t.Helper()
	if _, err := e.c.Get(ctx, p); !isReceiptError(err, "NotFound") {
		e.t.Errorf("get after a refused put: %v, want a NotFound error receipt", err)
	}
}

func caseAuthNoProof(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	rel := e.rel(p)
	r := e.invoke(ctx, e.space.DID(), client.CmdPut, putArgs(rel, v))
	wantErrorName(t, "put without proof", r, UCANErrorNames...)
	e.noWrite(ctx, p)
}

func caseAuthExpired(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	past := time.Now().Add(-time.Hour).Unix()
	old := e.delegation(e.space, e.agent.DID(), e.space.DID(), "/", &past)
	p, v := e.entry(0)
	rel := e.rel(p)
	r := e.invoke(ctx, e.space.DID(), client.CmdPut, putArgs(rel, v), old)
	wantErrorName(t, "put with an expired proof", r, ucan.Expired)
	e.noWrite(ctx, p)
}

func caseAuthOtherSpace(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	other, err := did.GenerateEd25519()
	if err != nil {
		t.Fatalf("space key: %v", err)
	}
	_, v := e.entry(0)
	key, _ := e.value(1)
	r := e.invoke(ctx, other.DID(), client.CmdPut, putArgs(e.target.Collection+"/"+key, v), e.root)
	wantErrorName(t, "put on another space", r, ucan.InvalidSubject, ucan.InvalidClaim)
}

func caseAuthNotCovered(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	readOnly := e.delegation(e.space, e.agent.DID(), e.space.DID(), client.CmdGet, nil)
	p, v := e.entry(0)
	rel := e.rel(p)
	r := e.invoke(ctx, e.space.DID(), client.CmdPut, putArgs(rel, v), readOnly)
	wantErrorName(t, "put with a /dag/get proof", r, UCANErrorNames...)
	e.noWrite(ctx, p)
	// The same proof does allow reading.
	g := e.invoke(ctx, e.space.DID(), client.CmdGet, pathArgs(rel), readOnly)
	if g.Error != nil && g.Error.Name != "NotFound" {
		t.Errorf("get with a /dag/get proof: %v, want NotFound (authorised, no entry)", g.Error)
	}
}

// caseDelegationChain: the space delegates everything to the agent, the agent delegates
// /dag/get to a friend; the friend can read (two-link chain, root first) but not write, and
// cannot widen what it was given.
func caseDelegationChain(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	e.put(ctx, p, v)
	friend, err := did.GenerateEd25519()
	if err != nil {
		t.Fatalf("key: %v", err)
	}
	read := e.delegation(e.agent, friend.DID(), e.space.DID(), client.CmdGet, nil)
	fc, err := client.New(client.Options{URL: target.URL, Signer: friend, ServiceDID: e.service, HTTPClient: e.hc, Proofs: []*ucan.Token{e.root, read}})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	g, err := fc.Get(ctx, p)
	if err != nil {
		t.Fatalf("get through a two-link chain: %v", err)
	}
	wantStatus(t, "get through a two-link chain", g, "done")
	if _, err := fc.Put(ctx, p+"x", v); !errors.Is(err, client.ErrNoProof) {
		t.Errorf("friend put: %v, want the client to find no proof", err)
	}
	// Claiming more than the chain grants: a put citing the /dag/get chain.
	rel := e.rel(p)
	inv, err := (&ucan.Invocation{Issuer: friend.DID(), Subject: e.space.DID(), Audience: e.service, Command: client.CmdPut, Args: putArgs(rel, v), Nonce: ucan.NewNonce(), Proofs: []cid.Cid{e.root.CID, read.CID}}).Seal(friend, ucan.SealOptions{})
	if err != nil {
		t.Fatalf("sealing: %v", err)
	}
	rs, err := fc.Send(ctx, &client.Invocation{Token: inv, Proofs: []*ucan.Token{e.root, read}})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	wantErrorName(t, "friend put citing a /dag/get chain", rs[0], UCANErrorNames...)
}

// casePolicyCanonicalPath: a delegation whose policy denies one upload entry denies it by
// every route (docs/SECURITY.md, "policies see what the engine sees"): the CID key in
// base58btc, base36 or upper-case base32, a field below the entry, and a select of the
// collection, which skips it; another entry is readable under the same delegation.
func casePolicyCanonicalPath(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	secretKey, v := uploadValue(0)
	openKey, w := uploadValue(1)
	e.put(ctx, e.abs("upload/"+secretKey), v)
	e.put(ctx, e.abs("upload/"+openKey), w)
	pol, err := policy.ParseJSON([]byte(`[["like", ".path", "upload*"], ["!=", ".path", "upload/` + secretKey + `"]]`))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	deny, err := (&ucan.Delegation{Issuer: e.space.DID(), Audience: e.agent.DID(), Subject: e.space.DID(),
		Command: "/dag", Policy: pol, Nonce: ucan.NewNonce()}).Seal(e.space, ucan.SealOptions{})
	if err != nil {
		t.Fatalf("sealing delegation: %v", err)
	}
	c, err := cid.Decode(secretKey)
	if err != nil {
		t.Fatalf("key %q: %v", secretKey, err)
	}
	for _, base := range []struct {
		name string
		enc  multibase.Encoding
	}{{"base32", multibase.Base32}, {"base58btc", multibase.Base58BTC}, {"base36", multibase.Base36}, {"upper-case base32", multibase.Base32Upper}} {
		s, err := c.StringOfBase(base.enc)
		if err != nil {
			t.Fatalf("%s form of %s: %v", base.name, c, err)
		}
		r := e.invoke(ctx, e.space.DID(), client.CmdGet, pathArgs("upload/"+s), deny)
		wantErrorName(t, "get of the denied entry in "+base.name, r, ucan.MatchError)
		r = e.invoke(ctx, e.space.DID(), client.CmdGet, pathArgs("upload/"+s+"/root"), deny)
		wantErrorName(t, "get below the denied entry in "+base.name, r, ucan.MatchError)
	}
	if r := e.invoke(ctx, e.space.DID(), client.CmdGet, pathArgs("upload/"+openKey), deny); r.Error != nil {
		t.Fatalf("get of an allowed entry: %v", r.Error)
	}
	r := e.invoke(ctx, e.space.DID(), client.CmdSelect, pathArgs("upload"), deny)
	if r.Error != nil {
		t.Fatalf("select under the delegation: %v", r.Error)
	}
	page, err := client.ParsePage(r.Ok, r.Blocks)
	if err != nil {
		t.Fatalf("select page: %v", err)
	}
	var keys []string
	for _, en := range page.Entries {
		keys = append(keys, entryKey(en))
	}
	if len(keys) != 1 || keys[0] != openKey {
		t.Errorf("select lists %v, want only the allowed %s", keys, openKey)
	}
}
