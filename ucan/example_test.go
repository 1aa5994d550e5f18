package ucan_test

import (
	"fmt"
	"time"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
	"github.com/w3dag/w3dag/ucan/policy"
)

// A space owner delegates /dag/put under store/ to an agent, which invokes it; the service
// decodes both tokens and validates the invocation.
func Example() {
	space, _ := did.DecodePrivateKey("gCa9UfZv+yI5/rvUIt21DaGI7EZJlzFO1uDc5AyJ30c6/w==")
	agent, _ := did.DecodePrivateKey("gCZfj9+RzU2U518TMBNK/fjdGQz34sB4iKE6z+9lQDpCIQ==")

	pol, err := policy.ParseJSON([]byte(`[["like", ".path", "store/*"]]`))
	if err != nil {
		panic(err)
	}
	dlg, err := (&ucan.Delegation{
		Audience: agent.DID(),
		Subject:  space.DID(),
		Command:  "/dag",
		Policy:   pol,
		Nonce:    ucan.NewNonce(),
	}).Seal(space, ucan.SealOptions{})
	if err != nil {
		panic(err)
	}

	args, _ := qp.BuildMap(basicnode.Prototype.Any, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "path", qp.String("store/bagbaiera"))
	})
	inv, err := (&ucan.Invocation{
		Subject: space.DID(),
		Command: "/dag/put",
		Args:    args,
		Proofs:  []ucan.CID{dlg.CID},
		Nonce:   ucan.NewNonce(),
	}).Seal(agent, ucan.SealOptions{})
	if err != nil {
		panic(err)
	}

	// On the receiving side: decode the bytes and validate.
	received, err := ucan.Decode(inv.Raw)
	if err != nil {
		panic(err)
	}
	proof, err := ucan.Decode(dlg.Raw)
	if err != nil {
		panic(err)
	}
	v := ucan.NewValidator(ucan.ValidatorOptions{})
	fmt.Println(received.Tag, v.Validate(received, ucan.NewProofs(proof)))
	// Output: ucan/inv@1.0.0 <nil>
}

// Validation errors carry the spec's error names.
func ExampleValidator_Validate() {
	space, _ := did.DecodePrivateKey("gCa9UfZv+yI5/rvUIt21DaGI7EZJlzFO1uDc5AyJ30c6/w==")
	agent, _ := did.DecodePrivateKey("gCZfj9+RzU2U518TMBNK/fjdGQz34sB4iKE6z+9lQDpCIQ==")
	exp := int64(1_700_000_000)
	dlg, _ := (&ucan.Delegation{
		Audience: agent.DID(), Subject: space.DID(), Command: "/dag/get",
		Nonce: ucan.NewNonce(), Expiration: &exp,
	}).Seal(space, ucan.SealOptions{})
	inv, _ := (&ucan.Invocation{
		Subject: space.DID(), Command: "/dag/get", Proofs: []ucan.CID{dlg.CID},
	}).Seal(agent, ucan.SealOptions{})

	v := ucan.NewValidator(ucan.ValidatorOptions{Now: func() time.Time { return time.Unix(exp+1, 0) }})
	err := v.Validate(inv, ucan.NewProofs(dlg))
	if e, ok := err.(*ucan.Error); ok {
		fmt.Println(e.Name)
	}
	// Output: Expired
}

// Sealing with SealOptions.RC1 emits the -rc.1 tags used by go-ucan.
func ExampleDelegation_Seal() {
	alice, _ := did.DecodePrivateKey("gCa9UfZv+yI5/rvUIt21DaGI7EZJlzFO1uDc5AyJ30c6/w==")
	d := &ucan.Delegation{
		Audience: "did:key:z6MkmT9j6fVZqzXV8u2wVVSu49gYSRYGSQnduWXF6foAJrqz",
		Subject:  alice.DID(),
		Command:  "/",
		Nonce:    []byte("0123456789ab"),
	}
	tok, _ := d.Seal(alice, ucan.SealOptions{RC1: true})
	fmt.Println(tok.Tag, tok.Kind(), tok.Delegation.Issuer == alice.DID())
	// Output: ucan/dlg@1.0.0-rc.1 delegation true
}
