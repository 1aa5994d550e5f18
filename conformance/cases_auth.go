package conformance

import (
	"context"
	"errors"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
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
