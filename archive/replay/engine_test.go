package replay

import (
	"context"
	"testing"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// openEngine opens an engine over store, signing with a fresh service key, and closes it
// when the test ends. It returns the engine and a maker of the service's own invocations:
// self(n, cmd) is tok(n) issued by the service for cmd.
func openEngine(t *testing.T, store kv.Store) (*dag.Engine, func(n int, cmd string) *ucan.Token) {
	t.Helper()
	svc, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	sch, err := schema.LoadSources()
	if err != nil {
		t.Fatal(err)
	}
	e, err := dag.Open(context.Background(), dag.Options{KV: store, Signer: svc, Schema: sch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	self := func(n int, cmd string) *ucan.Token {
		tk := tok(n)
		tk.Invocation = &ucan.Invocation{Issuer: svc.DID(), Command: cmd}
		return tk
	}
	return e, self
}
