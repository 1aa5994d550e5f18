package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// FuzzExecArgs invokes /dag/put, /dag/get, /dag/remove and /dag/select, by a space on
// itself, with any args (DAG-JSON) on the service's own collections as serve wires them
// (store, upload, carwhere, piece, aggregate, with their machines and tasks running), and
// checks that each ends in a receipt: bad args are error receipts, never an internal error
// (which a server answers with a 500) nor a panic.
func FuzzExecArgs(f *testing.F) {
	svc := newHTTPServiceConfig(f, nil)
	runner, err := ops.New(ops.Options{Engine: svc.engine, Signer: svc.service, Validator: ucan.NewValidator(ucan.ValidatorOptions{})})
	if err != nil {
		f.Fatal(err)
	}
	space, err := did.GenerateEd25519()
	if err != nil {
		f.Fatal(err)
	}
	car := `{"/": "bagbaierayfcfbwmnwqdrmwuql4a2zcgnxykrrrqbymyhfbqh5ylrwiqsk5ya"}`
	root := `{"/": "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"}`
	for _, seed := range []struct {
		cmd  uint8
		args string
	}{
		{0, `{"path": "store/bagbaierayfcfbwmnwqdrmwuql4a2zcgnxykrrrqbymyhfbqh5ylrwiqsk5ya", "value": {"link": ` + car + `, "size": 1024}}`},
		{0, `{"path": "upload/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", "value": {"root": ` + root + `, "shards": [` + car + `]}}`},
		{0, `{"path": "store/bagbaierayfcfbwmnwqdrmwuql4a2zcgnxykrrrqbymyhfbqh5ylrwiqsk5ya", "value": {"link": ` + car + `, "size": -1}}`},
		{1, `{"path": "store/bagbaierayfcfbwmnwqdrmwuql4a2zcgnxykrrrqbymyhfbqh5ylrwiqsk5ya"}`},
		{2, `{"path": "upload/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"}`},
		{3, `{"path": "upload", "limit": 10}`},
		{3, `{"path": "store", "cursor": "nope", "limit": 0}`},
		{0, `{"path": "upload/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", "value": {"root": ` + root + `, "shards": [` + car + `, ` + car + `]}}`},
		{1, `{"path": "` + "/did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK" + `/carwhere/bagbaierayfcfbwmnwqdrmwuql4a2zcgnxykrrrqbymyhfbqh5ylrwiqsk5ya"}`},
		{0, `{"path": "nope/x", "value": 1}`},
	} {
		f.Add(seed.cmd, []byte(seed.args))
	}
	cmds := []string{ops.CmdPut, ops.CmdGet, ops.CmdRemove, ops.CmdSelect}
	f.Fuzz(func(t *testing.T, cmd uint8, argsJSON []byte) {
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagjson.Decode(nb, bytes.NewReader(argsJSON)); err != nil {
			return
		}
		in := &ucan.Invocation{Issuer: space.DID(), Subject: space.DID(), Command: cmds[int(cmd)%len(cmds)], Args: nb.Build(), Nonce: ucan.NewNonce()}
		inv, err := in.Seal(space, ucan.SealOptions{})
		if err != nil {
			return // args no token may carry
		}
		c := runner.Check(inv, ucan.NewProofs(), runner.NewBudget())
		if _, err := runner.Exec(context.Background(), c, cid.Undef); err != nil {
			t.Fatalf("%s %s: an internal error, not a receipt: %v", in.Command, argsJSON, err)
		}
	})
}
