package dag_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// notesExt adds a schema-only collection "notes" to spaces.
const notesExt = `
type Space struct {
  notes {String:Note}
}

type Note struct {
  title String
  tags optional [String]
}
`

type env struct {
	t       testing.TB
	e       *dag.Engine
	kv      kv.Store
	service did.Signer
	agent   did.Signer
	space   string
}

type envOpt func(*dag.Options)

func newEnv(t testing.TB, store kv.Store, opts ...envOpt) *env {
	t.Helper()
	svc, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	agent, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	if store == nil {
		store = mem.New()
	}
	sch, err := schema.Load([]byte(notesExt))
	if err != nil {
		t.Fatal(err)
	}
	o := dag.Options{KV: store, Signer: svc, Schema: sch, Collections: testCollections()}
	for _, f := range opts {
		f(&o)
	}
	e, err := dag.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return &env{t: t, e: e, kv: store, service: svc, agent: agent, space: agent.DID()}
}

// inv seals an invocation of cmd on sub with args {path, value?} by signer s.
func (v *env) inv(s did.Signer, sub, cmd string, args datamodel.Node) *ucan.Token {
	v.t.Helper()
	i := &ucan.Invocation{Issuer: s.DID(), Subject: sub, Command: cmd, Args: args, Nonce: ucan.NewNonce()}
	tok, err := i.Seal(s, ucan.SealOptions{})
	if err != nil {
		v.t.Fatal(err)
	}
	return tok
}

func pathArgs(p dag.Path, value datamodel.Node) datamodel.Node {
	n := int64(1)
	if value != nil {
		n = 2
	}
	return must(qp.BuildMap(basicnode.Prototype.Map, n, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "path", qp.String(p.Rel()))
		if value != nil {
			qp.MapEntry(ma, "value", qp.Node(value))
		}
	}))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func (v *env) path(s string) dag.Path {
	v.t.Helper()
	p, err := dag.ParseRelative(v.space, s)
	if err != nil {
		v.t.Fatal(err)
	}
	return p
}

func (v *env) put(p dag.Path, value datamodel.Node) *dag.Result {
	v.t.Helper()
	args := pathArgs(p, value)
	var buf bytes.Buffer
	if err := dagcbor.Encode(value, &buf); err == nil && buf.Len() > ucan.MaxTokenSize/2 {
		// Too large for a token: ops would carry it as a block; the engine takes the node.
		args = pathArgs(p, nil)
	}
	res, err := v.e.Put(context.Background(), v.inv(v.agent, p.Subject, "/dag/put", args), p, value)
	if err != nil {
		v.t.Fatalf("put %s: %v", p, err)
	}
	return res
}

func (v *env) remove(p dag.Path) *dag.Result {
	v.t.Helper()
	res, err := v.e.Remove(context.Background(), v.inv(v.agent, p.Subject, "/dag/remove", pathArgs(p, nil)), p)
	if err != nil {
		v.t.Fatalf("remove %s: %v", p, err)
	}
	return res
}

func (v *env) get(p dag.Path) *dag.Result {
	v.t.Helper()
	res, err := v.e.Get(context.Background(), v.inv(v.agent, p.Subject, "/dag/get", pathArgs(p, nil)), p)
	if err != nil {
		v.t.Fatalf("get %s: %v", p, err)
	}
	return res
}

func (v *env) sel(p dag.Path, q dag.Query) *dag.Result {
	v.t.Helper()
	res, err := v.e.Select(context.Background(), v.inv(v.agent, p.Subject, "/dag/select", pathArgs(p, nil)), p, q)
	if err != nil {
		v.t.Fatalf("select %s: %v", p, err)
	}
	return res
}

// verifyChain walks the chain of the entry at p and returns its length.
func (v *env) verifyChain(p dag.Path) int {
	v.t.Helper()
	ent, err := v.e.Entry(context.Background(), p)
	if err != nil {
		v.t.Fatalf("entry %s: %v", p, err)
	}
	n := 0
	err = v.e.Chain(context.Background(), ent.Head, func(tok *ucan.Token, r *receipts.Receipt) error {
		if r.Path != p.String() {
			return errors.New("wrong path " + r.Path)
		}
		if _, err := v.e.Block(context.Background(), r.Ran); err != nil {
			return errors.New("ran does not resolve: " + err.Error())
		}
		n++
		return nil
	})
	if err != nil {
		v.t.Fatalf("chain of %s: %v", p, err)
	}
	return n
}

func note(title string) datamodel.Node {
	return must(qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "title", qp.String(title))
	}))
}

func carCID(seed string) cid.Cid {
	mh := must(multihash.Sum([]byte(seed), multihash.SHA2_256, -1))
	return cid.NewCidV1(collection.CodecCAR, mh)
}

func rawCID(seed string) cid.Cid {
	mh := must(multihash.Sum([]byte(seed), multihash.SHA2_256, -1))
	return cid.NewCidV1(cid.Raw, mh)
}

func storeValue(c cid.Cid, size int64) datamodel.Node {
	return must(qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "link", qp.Link(cidlink.Link{Cid: c}))
		qp.MapEntry(ma, "size", qp.Int(size))
	}))
}

func uploadValue(root cid.Cid, shards ...cid.Cid) datamodel.Node {
	return must(qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "root", qp.Link(cidlink.Link{Cid: root}))
		qp.MapEntry(ma, "shards", qp.List(int64(len(shards)), func(la datamodel.ListAssembler) {
			for _, s := range shards {
				qp.ListEntry(la, qp.Link(cidlink.Link{Cid: s}))
			}
		}))
	}))
}

func status(t testing.TB, n datamodel.Node) string {
	t.Helper()
	s, err := must(n.LookupByString("status")).AsString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var _ = time.Now

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func encodeCBOR(t testing.TB, n datamodel.Node) []byte {
	var buf bytes.Buffer
	if err := dagcbor.Encode(n, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
