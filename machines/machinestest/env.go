package machinestest

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/machines"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// Env is an engine with the machines wired in, and a signer per space.
type Env struct {
	T       testing.TB
	E       *dag.Engine
	KV      kv.Store
	Service did.Signer
	// Collections are what E was opened with (Reopen uses them again).
	Collections []dag.Collection
	Clock       func() time.Time
}

// Collections returns the built-in collections (machines.Builtin) with store running the
// store collection (nil: the store-like test machine, StoreLike).
func Collections(store dag.Machine) []dag.Collection {
	if store == nil {
		store = StoreLike{}
	}
	return machines.Builtin(store)
}

// Open opens an engine over st with cols (nil: Collections(nil)), signing as service
// (nil: a fresh key). clock may be nil. The engine is closed when the test ends.
func Open(t testing.TB, st kv.Store, service did.Signer, cols []dag.Collection, clock func() time.Time) *Env {
	t.Helper()
	if service == nil {
		service = Signer(t)
	}
	if cols == nil {
		cols = Collections(nil)
	}
	v := &Env{T: t, KV: st, Service: service, Collections: cols, Clock: clock}
	v.E = v.open()
	t.Cleanup(func() { v.E.Close() })
	return v
}

func (v *Env) open() *dag.Engine {
	v.T.Helper()
	sch, err := schema.Load()
	if err != nil {
		v.T.Fatal(err)
	}
	e, err := dag.Open(context.Background(), dag.Options{KV: v.KV, Signer: v.Service, Schema: sch, Collections: v.Collections, Clock: v.Clock})
	if err != nil {
		v.T.Fatal(err)
	}
	return e
}

// Reopen closes the engine and opens a new one over st (the same store reopened, or
// another handle on the same data).
func (v *Env) Reopen(st kv.Store) {
	v.T.Helper()
	v.E.Close()
	v.KV = st
	v.E = v.open()
	e := v.E
	v.T.Cleanup(func() { e.Close() })
}

// Signer returns a fresh Ed25519 key.
func Signer(t testing.TB) did.Signer {
	t.Helper()
	s, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// CAR returns a random CAR CID (codec 0x0202, sha2-256).
func CAR(t testing.TB) cid.Cid {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	mh, err := multihash.Sum(b, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(collection.CodecCAR, mh)
}

// Link returns a random dag-cbor CID (an upload root).
func Link(t testing.TB) cid.Cid {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	mh, err := multihash.Sum(b, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.DagCBOR, mh)
}

// Path returns /<space>/<collection>/<key>.
func Path(space, collection, key string) dag.Path {
	return dag.Path{Subject: space, Collection: collection, Key: key}
}

// StoreValue is the store input {link, size}.
func StoreValue(link cid.Cid, size int64) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "link", qp.Link(cidlink.Link{Cid: link}))
		qp.MapEntry(ma, "size", qp.Int(size))
	})
	return n
}

// UploadValue is the upload input {root, shards}.
func UploadValue(root cid.Cid, shards ...cid.Cid) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "root", qp.Link(cidlink.Link{Cid: root}))
		qp.MapEntry(ma, "shards", qp.List(int64(len(shards)), func(la datamodel.ListAssembler) {
			for _, s := range shards {
				qp.ListEntry(la, qp.Link(cidlink.Link{Cid: s}))
			}
		}))
	})
	return n
}

// Invocation seals an invocation of cmd on p by s (the space's own key: no proofs).
func Invocation(t testing.TB, s did.Signer, cmd string, p dag.Path, value datamodel.Node) *ucan.Token {
	t.Helper()
	n := int64(1)
	if value != nil {
		n = 2
	}
	args, err := qp.BuildMap(basicnode.Prototype.Map, n, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "path", qp.String(p.Rel()))
		if value != nil {
			qp.MapEntry(ma, "value", qp.Node(value))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	inv := &ucan.Invocation{Issuer: s.DID(), Subject: p.Subject, Command: cmd, Args: args, Nonce: ucan.NewNonce()}
	tok, err := inv.Seal(s, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Put runs dag/put of value at p as s and returns the result (failing the test on an
// internal error, not on a business failure).
func (v *Env) Put(s did.Signer, p dag.Path, value datamodel.Node) *dag.Result {
	v.T.Helper()
	res, err := v.E.Put(context.Background(), Invocation(v.T, s, "/dag/put", p, value), p, value)
	if err != nil {
		v.T.Fatalf("put %s: %v", p, err)
	}
	return res
}

// Remove runs dag/remove of p as s.
func (v *Env) Remove(s did.Signer, p dag.Path) *dag.Result {
	v.T.Helper()
	res, err := v.E.Remove(context.Background(), Invocation(v.T, s, "/dag/remove", p, nil), p)
	if err != nil {
		v.T.Fatalf("remove %s: %v", p, err)
	}
	return res
}

// Get runs dag/get of p as s.
func (v *Env) Get(s did.Signer, p dag.Path) *dag.Result {
	v.T.Helper()
	res, err := v.E.Get(context.Background(), Invocation(v.T, s, "/dag/get", p, nil), p)
	if err != nil {
		v.T.Fatalf("get %s: %v", p, err)
	}
	return res
}

// MustOK fails the test when res is a business failure.
func MustOK(t testing.TB, res *dag.Result) *dag.Result {
	t.Helper()
	if res.Err != nil {
		t.Fatalf("unexpected failure %s: %v", dag.ErrorName(res.Err), res.Err)
	}
	return res
}

// Status returns the status of the entry at p, or "" when there is none.
func (v *Env) Status(p dag.Path) string {
	v.T.Helper()
	ent, err := v.E.Entry(context.Background(), p)
	if dag.ErrorName(err) == dag.ErrNotFound.Name {
		return ""
	}
	if err != nil {
		v.T.Fatalf("entry %s: %v", p, err)
	}
	return ent.Status
}

// String is a short description of a result, for failure messages.
func String(res *dag.Result) string {
	if res == nil {
		return "<nil>"
	}
	if res.Err != nil {
		return fmt.Sprintf("error %s: %v", dag.ErrorName(res.Err), res.Err)
	}
	if res.Entry != nil {
		return fmt.Sprintf("%s %s", res.Entry.Path, res.Entry.Status)
	}
	return "ok"
}
