package did_test

import (
	"fmt"

	"github.com/w3dag/w3dag/ucan/did"
)

func ExampleParse() {
	alice, err := did.DecodePrivateKey("gCa9UfZv+yI5/rvUIt21DaGI7EZJlzFO1uDc5AyJ30c6/w==")
	if err != nil {
		panic(err)
	}
	sig, err := alice.Sign([]byte("message"))
	if err != nil {
		panic(err)
	}
	v, err := did.Parse(alice.DID())
	if err != nil {
		panic(err)
	}
	fmt.Println(v.DID())
	fmt.Println(v.Verify([]byte("message"), sig))
	// Output:
	// did:key:z6MkgGykN9ARNFjEzowVq4mLP2kL4NsyAaDGXeJFQ5qE1bfg
	// true
}
