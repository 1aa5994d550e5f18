package conformance

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/container"
)

// caseContainerBody sends an invocation and its proof as a UCAN container body
// (application/vnd.ipld.dag-cbor) instead of a CAR.
func caseContainerBody(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	inv, err := e.c.NewInvocation(ctx, client.CmdPut, p, client.Args{"value": v})
	if err != nil {
		t.Fatalf("invocation: %v", err)
	}
	body, err := container.Encode(container.HeaderRaw, [][]byte{inv.Token.Raw, e.root.Raw})
	if err != nil {
		t.Fatalf("container: %v", err)
	}
	resp, err := e.c.Post(ctx, body, message.ContentTypeDAGCBOR)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("container body: %v", client.ErrorFromResponse(resp))
	}
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading reply: %v", err)
	}
	r := e.replyReceipt(reply, inv.Token.CID, message.Decode)
	wantStatus(t, "put in a container body", r, "done")
}

// caseDAGJSONReply asks for the reply as DAG-JSON.
func caseDAGJSONReply(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	inv, err := e.c.NewInvocation(ctx, client.CmdPut, p, client.Args{"value": v})
	if err != nil {
		t.Fatalf("invocation: %v", err)
	}
	body, err := client.EncodeMessage([]*client.Invocation{inv})
	if err != nil {
		t.Fatalf("message: %v", err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url("/ucan"), bytes.NewReader(body))
	req.Header.Set("Content-Type", message.ContentTypeCAR)
	req.Header.Set("Accept", message.ContentTypeDAGJSON)
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST with Accept DAG-JSON: %v", client.ErrorFromResponse(resp))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, message.ContentTypeDAGJSON) {
		t.Errorf("Content-Type %q, want %s", ct, message.ContentTypeDAGJSON)
	}
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading reply: %v", err)
	}
	decode := func(data []byte, _ message.Limits) (*message.Message, error) {
		roots, blocks, err := message.DecodeJSON(data)
		if err != nil {
			return nil, err
		}
		var car []byte
		if car, err = message.EncodeCAR(roots, blocks); err != nil {
			return nil, err
		}
		return message.Decode(car, message.Limits{})
	}
	r := e.replyReceipt(reply, inv.Token.CID, decode)
	wantStatus(t, "put with a DAG-JSON reply", r, "done")
}

// replyReceipt finds and verifies the receipt for inv in a reply message.
func (e *env) replyReceipt(reply []byte, inv cid.Cid, decode func([]byte, message.Limits) (*message.Message, error)) *client.Receipt {
	e.t.Helper()
	m, err := decode(reply, message.Limits{})
	if err != nil {
		e.t.Fatalf("decoding the reply: %v", err)
	}
	blocks := m.Index()
	for _, r := range m.Receipts {
		if !r.Invocation.Equals(inv) {
			continue
		}
		tok, err := ucan.Decode(blocks[r.Receipt])
		if err != nil {
			e.t.Fatalf("receipt %s: %v", r.Receipt, err)
		}
		rc, err := client.VerifyReceipt(tok, e.service)
		if err != nil {
			e.t.Fatalf("receipt: %v", err)
		}
		if !rc.Ran.Equals(inv) {
			e.t.Errorf("receipt ran %s, want %s", rc.Ran, inv)
		}
		return rc
	}
	e.t.Fatalf("the reply has no receipt for %s", inv)
	return nil
}

func caseMalformed(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	post := func(what, contentType string, body []byte) {
		t.Helper()
		resp, err := e.c.Post(ctx, body, contentType)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer resp.Body.Close()
		he := client.ErrorFromResponse(resp)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s: HTTP %d, want 4xx", what, resp.StatusCode)
			return
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q, want application/json", what, ct)
		}
		if he.Name == "" || he.Message == "" {
			t.Errorf("%s: HTTP %d error body without name and message", what, resp.StatusCode)
		}
	}
	post("garbage CAR", message.ContentTypeCAR, []byte("this is not a CAR"))
	post("empty body", message.ContentTypeCAR, nil)
	post("text/plain body", "text/plain", []byte("hello"))
	notMessage, _ := message.EncodeCAR(nil, nil)
	post("CAR without roots", message.ContentTypeCAR, notMessage)
	big := make([]byte, message.MaxMessageSize+1024)
	post("body over the message size limit", message.ContentTypeCAR, big)

	// A message carrying a token that no invocation in it uses is refused whole: nothing
	// unused is run or archived.
	ip, iv := e.entry(1)
	exp := time.Now().Add(time.Minute).Unix()
	inv, err := (&ucan.Invocation{Issuer: e.agent.DID(), Subject: e.space.DID(), Audience: e.service,
		Command: client.CmdPut, Args: putArgs(e.rel(ip), iv), Nonce: ucan.NewNonce(), Expiration: &exp,
		Proofs: []cid.Cid{e.root.CID}}).Seal(e.agent, ucan.SealOptions{})
	if err != nil {
		t.Fatalf("sealing invocation: %v", err)
	}
	unused := e.delegation(e.agent, e.agent.DID(), e.space.DID(), client.CmdGet, nil)
	withUnused, err := message.Encode(&message.Message{Invocations: []cid.Cid{inv.CID}, Blocks: []message.Block{
		{CID: inv.CID, Data: inv.Raw}, {CID: e.root.CID, Data: e.root.Raw}, {CID: unused.CID, Data: unused.Raw}}})
	if err != nil {
		t.Fatalf("encoding: %v", err)
	}
	post("a token no invocation uses", message.ContentTypeCAR, withUnused)

	// A well-formed message with a bad invocation gets an error receipt, not a 4xx.
	r := e.invoke(ctx, e.space.DID(), "/dag/frobnicate", putArgs(e.target.Collection+"/x", basicnode.NewInt(1)), e.root)
	if r.Error == nil {
		t.Errorf("unknown command: ok receipt, want an error receipt")
	}
	r = e.invoke(ctx, e.space.DID(), client.CmdPut, putArgs("no-such-collection/x", basicnode.NewInt(1)), e.root)
	if r.Error == nil {
		t.Errorf("put to an unknown collection: ok receipt, want an error receipt")
	}
	p, _ := e.entry(0)
	rel := e.rel(p)
	r = e.invoke(ctx, e.space.DID(), client.CmdPut, putArgs(rel, basicnode.NewString("not the input type")), e.root)
	if r.Error == nil {
		t.Errorf("put of a value of the wrong type: ok receipt, want an error receipt")
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url("/receipts/not-a-cid"), nil)
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatalf("GET /receipts/not-a-cid: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /receipts/not-a-cid: HTTP %d, want 400 or 404", resp.StatusCode)
	}
}
