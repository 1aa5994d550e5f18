package conformance

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"time"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// env is one case's fresh agent and space.
type env struct {
	t       T
	target  Target
	service string
	agent   did.Signer
	space   did.Signer
	root    *ucan.Token // space → agent, command "/"
	c       *client.Client
	hc      *http.Client
	value   ValueFunc
}

func setup(ctx context.Context, t T, target Target) *env {
	t.Helper()
	if target.URL == "" {
		t.Fatalf("conformance: Target.URL is empty")
	}
	e := &env{t: t, target: target, hc: target.HTTPClient, value: target.Value}
	if e.hc == nil {
		e.hc = &http.Client{}
	}
	if e.target.Collection == "" {
		e.target.Collection = DefaultCollection
	}
	if e.value == nil {
		e.value = uploadValue
	}
	e.service = target.ServiceDID
	if e.service == "" {
		s, err := client.FetchServiceDID(ctx, e.hc, target.URL)
		if err != nil {
			t.Fatalf("reading the service DID: %v", err)
		}
		e.service = s
	}
	var err error
	if e.agent, err = did.GenerateEd25519(); err != nil {
		t.Fatalf("agent key: %v", err)
	}
	if e.space, err = did.GenerateEd25519(); err != nil {
		t.Fatalf("space key: %v", err)
	}
	e.root = e.delegation(e.space, e.agent.DID(), e.space.DID(), "/", nil)
	e.c, err = client.New(client.Options{URL: target.URL, Signer: e.agent, ServiceDID: e.service, HTTPClient: e.hc, Proofs: []*ucan.Token{e.root}})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return e
}

// uploadValue is an upload-like value: {"root": <fresh raw CID>} keyed by the CID.
func uploadValue(int) (string, datamodel.Node) {
	b := make([]byte, 32)
	rand.Read(b)
	c := message.Sum(message.CodecRaw, b)
	return c.String(), fluent.MustBuildMap(basicnode.Prototype.Map, 1, func(ma fluent.MapAssembler) {
		ma.AssembleEntry("root").AssignLink(cidlink.Link{Cid: c})
	})
}

func (e *env) delegation(iss did.Signer, aud, sub, cmd string, exp *int64) *ucan.Token {
	e.t.Helper()
	tok, err := (&ucan.Delegation{Issuer: iss.DID(), Audience: aud, Subject: sub, Command: cmd, Nonce: ucan.NewNonce(), Expiration: exp}).Seal(iss, ucan.SealOptions{})
	if err != nil {
		e.t.Fatalf("sealing delegation: %v", err)
	}
	return tok
}

// abs is the absolute path of rel (a path relative to the case's space, such as
// "store/<cid>").
func (e *env) abs(rel string) string { return "/" + e.space.DID() + "/" + rel }

// rel is the absolute path p relative to the case's space (what args.path carries).
func (e *env) rel(p string) string { return strings.TrimPrefix(p, "/"+e.space.DID()+"/") }

// url is the service's URL for an HTTP path such as "/ucan".
func (e *env) url(path string) string { return strings.TrimRight(e.target.URL, "/") + path }

// collection is the absolute path of the collection in the case's space.
func (e *env) collection() string { return e.abs(e.target.Collection) }

// entry returns a fresh entry path and its value.
func (e *env) entry(i int) (string, datamodel.Node) {
	key, v := e.value(i)
	return e.collection() + "/" + key, v
}

func (e *env) put(ctx context.Context, p string, v datamodel.Node) *client.Receipt {
	e.t.Helper()
	r, err := e.c.Put(ctx, p, v)
	if err != nil {
		e.t.Fatalf("put %s: %v", p, err)
	}
	return r
}

// invoke seals an invocation by the agent with exactly the given proofs and sends it.
func (e *env) invoke(ctx context.Context, sub, cmd string, args datamodel.Node, proofs ...*ucan.Token) *client.Receipt {
	e.t.Helper()
	inv := &ucan.Invocation{Issuer: e.agent.DID(), Subject: sub, Audience: e.service, Command: cmd, Args: args, Nonce: ucan.NewNonce()}
	exp := time.Now().Add(time.Minute).Unix()
	inv.Expiration = &exp
	for _, p := range proofs {
		inv.Proofs = append(inv.Proofs, p.CID)
	}
	tok, err := inv.Seal(e.agent, ucan.SealOptions{})
	if err != nil {
		e.t.Fatalf("sealing invocation: %v", err)
	}
	rs, err := e.c.Send(ctx, &client.Invocation{Token: tok, Proofs: proofs})
	if err != nil {
		e.t.Fatalf("sending %s: %v", cmd, err)
	}
	return rs[0]
}
