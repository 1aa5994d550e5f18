package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/dag"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/server"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

func Example() {
	ctx := context.Background()
	// Wire the service by hand, as cmd/w3dag serve does (in-memory stores here).
	key, _ := did.GenerateEd25519()
	sch := schema.MustLoad([]byte("type Space struct {\n notes {String:Note}\n}\ntype Note struct {\n title String\n}\n"))
	engine, err := dag.Open(ctx, dag.Options{KV: kvmem.New(), Signer: key, Schema: sch})
	if err != nil {
		panic(err)
	}
	defer engine.Close()
	runner, _ := ops.New(ops.Options{Engine: engine, Signer: key})
	srv, err := server.New(server.Options{Service: key, Runner: runner, Store: engine, Archive: archive.New(mem.New(), archive.Options{})})
	if err != nil {
		panic(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	// A space owner puts a note: a self-issued /dag/put in an agent message.
	space, _ := did.GenerateEd25519()
	nb := basicnode.Prototype.Any.NewBuilder()
	dagjson.Decode(nb, strings.NewReader(`{"path": "notes/hello", "value": {"title": "hello"}}`))
	inv, _ := (&ucan.Invocation{Issuer: space.DID(), Subject: space.DID(), Command: "/dag/put", Args: nb.Build()}).Seal(space, ucan.SealOptions{})
	body, _ := message.Encode(&message.Message{Invocations: []cid.Cid{inv.CID}, Blocks: []message.Block{{CID: inv.CID, Data: inv.Raw}}})
	resp, err := http.Post(hs.URL+"/ucan", message.ContentTypeCAR, bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		panic(err)
	}
	reply, err := message.Decode(data, message.ReplyLimits)
	if err != nil {
		panic(err)
	}
	tok, _ := ucan.Decode(reply.Index()[reply.Receipts[0].Receipt])
	r, err := receipts.Verify(tok, key.DID())
	if err != nil {
		panic(err)
	}
	status, _ := r.Out.Ok.LookupByString("status")
	s, _ := status.AsString()
	fmt.Println(resp.StatusCode, r.Ran == inv.CID, s)
	// Output: 200 true done
}
