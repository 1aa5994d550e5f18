package client_test

import (
	"fmt"
	"time"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

func ExampleSplitPath() {
	sub, rel, err := client.SplitPath("/did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK/upload/bafy")
	fmt.Println(sub, rel, err)
	// Output: did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK upload/bafy <nil>
}

// ExampleFindChain shows how the client picks proofs: the space delegated everything to
// Alice, Alice delegated reading to Bob; Bob's invocations of /dag/get cite both, root first.
func ExampleFindChain() {
	space, _ := did.Ed25519FromSeed(make([]byte, 32))
	alice, _ := did.Ed25519FromSeed(append(make([]byte, 31), 1))
	bob, _ := did.Ed25519FromSeed(append(make([]byte, 31), 2))
	root, _ := (&ucan.Delegation{Issuer: space.DID(), Audience: alice.DID(), Subject: space.DID(), Command: "/", Nonce: ucan.NewNonce()}).Seal(space, ucan.SealOptions{})
	read, _ := (&ucan.Delegation{Issuer: alice.DID(), Audience: bob.DID(), Subject: space.DID(), Command: "/dag/get", Nonce: ucan.NewNonce()}).Seal(alice, ucan.SealOptions{})

	chain, err := client.FindChain([]*ucan.Token{read, root}, space.DID(), bob.DID(), client.CmdGet, time.Now().Unix())
	fmt.Println(len(chain), chain[0] == root, chain[1] == read, err)
	_, err = client.FindChain([]*ucan.Token{read, root}, space.DID(), bob.DID(), client.CmdPut, time.Now().Unix())
	fmt.Println(err != nil)
	// Output:
	// 2 true true <nil>
	// true
}
