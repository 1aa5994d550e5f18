package ops_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

func ExampleOps_Run() {
	ctx := context.Background()
	service, _ := did.GenerateEd25519()
	sch := schema.MustLoad([]byte("type Space struct {\n notes {String:Note}\n}\ntype Note struct {\n title String\n}\n"))
	engine, err := dag.Open(ctx, dag.Options{KV: mem.New(), Signer: service, Schema: sch})
	if err != nil {
		panic(err)
	}
	defer engine.Close()
	o, _ := ops.New(ops.Options{Engine: engine, Signer: service})

	args := func(js string) *ucan.Invocation {
		nb := basicnode.Prototype.Any.NewBuilder()
		dagjson.Decode(nb, strings.NewReader(js))
		return &ucan.Invocation{Command: "/dag/put", Args: nb.Build(), Nonce: ucan.NewNonce()}
	}
	space, agent := mustKey(), mustKey()

	// The space key itself may write its space.
	in := args(`{"path": "notes/a", "value": {"title": "hi"}}`)
	in.Issuer, in.Subject = space.DID(), space.DID()
	inv, _ := in.Seal(space, ucan.SealOptions{})
	out, err := o.Run(ctx, inv, nil, cid.Undef)
	if err != nil {
		panic(err)
	}
	fmt.Println(out.Command, out.Result)

	// Another key needs a delegation from the space: without one it is refused.
	in = args(`{"path": "notes/b", "value": {"title": "hi"}}`)
	in.Issuer, in.Subject = agent.DID(), space.DID()
	inv, _ = in.Seal(agent, ucan.SealOptions{})
	out, _ = o.Run(ctx, inv, nil, cid.Undef)
	r, _ := receipts.Verify(out.Receipt, service.DID())
	fmt.Println(out.Result, r.Out.Err.Name, out.Stored)
	// Output:
	// /dag/put ok
	// InvalidClaim InvalidClaim false
}

func mustKey() did.Signer {
	k, err := did.GenerateEd25519()
	if err != nil {
		panic(err)
	}
	return k
}
