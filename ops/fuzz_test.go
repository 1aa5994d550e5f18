package ops

import (
	"bytes"
	"context"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/policy"
)

// FuzzPolicyArgs checks any policy against any args under a small message budget: no
// panic, and the steps spent never exceed the budget by more than the chunk each
// evaluation may hold (policy budgetChunk, 1024 steps).
func FuzzPolicyArgs(f *testing.F) {
	for _, seed := range []struct{ pol, args string }{
		{`[["==", ".path", "notes/a"]]`, `{"path": "notes/a"}`},
		{`[["!=", ".path", "pins/x"]]`, `{"path": "notes/a"}`},
		{`[["all", ".value.list", [">=", ".", 0]], ["all", ".value.list", [">=", ".", 0]]]`, `{"path": "notes/x", "value": {"title": "t", "list": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}}`},
		{`[["any", ".value.list", ["like", ".", "*a*b*c*"]]]`, `{"path": "notes/x", "value": {"title": "t", "list": ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]}}`},
		{`[["not", ["or", [["==", ".a", 1], ["like", ".path", "n*"]]]]]`, `{"path": "notes/b", "a": 1}`},
		{`[]`, `{"path": "notes"}`},
	} {
		f.Add([]byte(seed.pol), []byte(seed.args))
	}
	fx := newPinsFixture(f, Options{MessageWork: 1 << 14, MessageProofs: 16})
	space, a1, a2 := mustKey(f), mustKey(f), mustKey(f)
	f.Fuzz(func(t *testing.T, polJSON, argsJSON []byte) {
		pol, err := policy.ParseJSON(polJSON)
		if err != nil {
			return
		}
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagjson.Decode(nb, bytes.NewReader(argsJSON)); err != nil {
			return
		}
		args := nb.Build()
		d1 := &ucan.Delegation{Issuer: space.DID(), Audience: a1.DID(), Subject: space.DID(), Command: "/dag", Policy: pol, Nonce: ucan.NewNonce()}
		d2 := &ucan.Delegation{Issuer: a1.DID(), Audience: a2.DID(), Subject: space.DID(), Command: "/dag", Policy: pol, Nonce: ucan.NewNonce()}
		t1, err := d1.Seal(space, ucan.SealOptions{})
		if err != nil {
			t.Skip(err)
		}
		t2, err := d2.Seal(a1, ucan.SealOptions{})
		if err != nil {
			t.Skip(err)
		}
		b := fx.ops.NewBudget()
		for _, cmd := range []string{CmdGet, CmdSelect, CmdPut} {
			in := &ucan.Invocation{Issuer: a2.DID(), Subject: space.DID(), Command: cmd, Args: args, Nonce: ucan.NewNonce()}
			in.Proofs = append(in.Proofs, t1.CID, t2.CID)
			inv, err := in.Seal(a2, ucan.SealOptions{})
			if err != nil {
				return // args the token encoder refuses
			}
			c := fx.ops.Check(inv, ucan.NewProofs(t1, t2), b)
			if cmd == CmdSelect {
				if _, err := fx.ops.Exec(context.Background(), c, inv.CID); err != nil {
					t.Fatalf("select: %v", err)
				}
			}
			if left := b.Left(); left < -2*1024 {
				t.Fatalf("%s: message budget overdrawn to %d steps", cmd, left)
			}
		}
	})
}
