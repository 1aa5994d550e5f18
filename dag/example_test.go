package dag_test

import (
	"context"
	"fmt"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

func ExampleParsePath() {
	p, err := dag.ParsePath("/did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK/notes/hello/value/title")
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Collection, p.Key, p.Fields)
	fmt.Println(p.Entry().Rel())
	_, err = dag.ParsePath("/did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK//hello")
	fmt.Println(err)
	// Output:
	// notes hello [value title]
	// notes/hello
	// invalid path: path "/did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK//hello": collection is empty
}

func ExampleEngine() {
	ctx := context.Background()
	service, _ := did.Ed25519FromSeed(make([]byte, 32))
	sch, _ := schema.Load([]byte(`
type Space struct {
  notes {String:Note}
}
type Note struct {
  title String
}`))
	e, err := dag.Open(ctx, dag.Options{KV: mem.New(), Signer: service, Schema: sch})
	if err != nil {
		panic(err)
	}
	defer e.Close()

	// The space owner (here also the invoker) writes a note.
	space, _ := did.GenerateEd25519()
	p, _ := dag.ParseRelative(space.DID(), "notes/hello")
	value, _ := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "title", qp.String("Hello"))
	})
	invoke := func(cmd string) *ucan.Token {
		args, _ := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "path", qp.String(p.Rel()))
		})
		t, _ := (&ucan.Invocation{Issuer: space.DID(), Subject: space.DID(), Command: cmd, Args: args, Nonce: ucan.NewNonce()}).Seal(space, ucan.SealOptions{})
		return t
	}
	res, _ := e.Put(ctx, invoke("/dag/put"), p, value)
	fmt.Println("put:", res.Entry.Status, "seq", res.Entry.Seq)

	// A different value at a live entry is refused with an error receipt.
	other, _ := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "title", qp.String("Bye"))
	})
	res, _ = e.Put(ctx, invoke("/dag/put"), p, other)
	fmt.Println("put again:", res.Out.Err.Name)

	res, _ = e.Remove(ctx, invoke("/dag/remove"), p)
	fmt.Println("remove:", res.Entry.Status, "seq", res.Entry.Seq)

	// The chain of the path, head first.
	_ = e.Chain(ctx, res.Entry.Head, func(_ *ucan.Token, r *receipts.Receipt) error {
		fmt.Println("receipt seq", r.Seq)
		return nil
	})
	// Output:
	// put: done seq 1
	// put again: EntryExists
	// remove: removed seq 2
	// receipt seq 2
	// receipt seq 1
}
