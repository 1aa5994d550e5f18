package carwhere_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan/did"
)

func ExampleFSLocator() {
	c, _ := cid.Decode("bagbaierav3zmpfwj7gtx2ayeog4ipmusmfwfgpcyghk7hhbcndbi7hbfd6oq")
	loc := carwhere.FSLocator("/var/lib/w3dag/blobs", "https://w3dag.example")(c)
	fmt.Println(loc.Key)
	fmt.Println(loc.URIs[0])
	// Output:
	// carpark/bagbaierav3zmpfwj7gtx2ayeog4ipmusmfwfgpcyghk7hhbcndbi7hbfd6oq/bagbaierav3zmpfwj7gtx2ayeog4ipmusmfwfgpcyghk7hhbcndbi7hbfd6oq.car
	// https://w3dag.example/blob/bagbaierav3zmpfwj7gtx2ayeog4ipmusmfwfgpcyghk7hhbcndbi7hbfd6oq
}

// ExampleClaims records where a CAR is and materialises its location claim.
func ExampleClaims() {
	ctx := context.Background()
	svc, _ := did.GenerateEd25519()
	e, _ := dag.Open(ctx, dag.Options{KV: mem.New(), Signer: svc, Schema: schema.MustLoad()})
	defer e.Close()
	c, _ := cid.Decode("bagbaierav3zmpfwj7gtx2ayeog4ipmusmfwfgpcyghk7hhbcndbi7hbfd6oq")
	err := e.Update(ctx, func(tx *dag.Tx) error {
		inv, err := tx.Invoke("/example/locate", nil)
		if err != nil {
			return err
		}
		_, err = carwhere.Record(tx, inv.CID, c, 1024, carwhere.FSLocator("", "https://w3dag.example")(c))
		return err
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Now()
	claims := carwhere.NewClaims(e, svc, carwhere.ClaimsOptions{Clock: func() time.Time { return now }})
	toks, err := claims.Claims(ctx, c)
	if err != nil {
		fmt.Println(err)
		return
	}
	cl, err := carwhere.VerifyClaim(toks[0], svc.DID(), now)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(toks[0].Invocation.Command, cl.Location[0], cl.Size, cl.Expires.Sub(now.Truncate(time.Second)))
	// Output: /assert/location https://w3dag.example/blob/bagbaierav3zmpfwj7gtx2ayeog4ipmusmfwfgpcyghk7hhbcndbi7hbfd6oq 1024 1h0m0s
}
