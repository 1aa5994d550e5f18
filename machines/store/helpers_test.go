package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"maps"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	blobfs "github.com/w3dag/w3dag/blob/fs"
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/machines/usage"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

const publicURL = "http://w3dag.test"

// clock is a settable clock shared by the engine, the machine and the task runner.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	t       testing.TB
	kv      kv.Store
	dir     string
	service did.Signer
	clock   *clock
	fs      *blobfs.Store
	m       *Machine
	e       *dag.Engine
	b       *Blobs
	runner  *task.Runner
}

// newEnv opens an engine with the store machine over st (kv/mem when nil), blobs in dir
// (a temporary folder when "") and the service key svc (new when nil).
func newEnv(t testing.TB, st kv.Store, dir string, svc did.Signer, clk *clock) *env {
	t.Helper()
	if st == nil {
		st = mem.New()
	}
	if dir == "" {
		dir = t.TempDir()
	}
	if svc == nil {
		var err error
		if svc, err = did.GenerateEd25519(); err != nil {
			t.Fatal(err)
		}
	}
	if clk == nil {
		clk = &clock{now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	}
	v := &env{t: t, kv: st, dir: dir, service: svc, clock: clk}
	fsStore, err := blobfs.Open(filepath.Join(dir, "blobs"), blobfs.Options{
		Secret: bytes.Repeat([]byte{7}, blobfs.MinSecretLength),
		URL:    func(key string) string { return publicURL + "/blob/" + filepath.Base(filepath.Dir(key)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsStore.Close() })
	v.fs = fsStore
	v.m, err = New(Options{Blobs: fsStore, Locator: carwhere.FSLocator(filepath.Join(dir, "blobs"), publicURL), Clock: clk.Now, MaxBlobSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	v.e, err = dag.Open(context.Background(), dag.Options{
		KV: st, Signer: svc, Schema: schema.MustLoad(), Clock: clk.Now,
		Collections: []dag.Collection{v.m.Collection(), carwhere.Machine{}.Collection(), metrics.Machine{}.Collection(), piece.Machine{}.Collection()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.e.Close() })
	v.b, err = NewBlobs(v.e, fsStore, BlobsOptions{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	handlers := v.m.Handlers(v.e)
	maps.Copy(handlers, piece.Handlers(v.e, fsStore, nil))
	v.runner = task.NewRunner(v.e, handlers, task.RunnerOptions{Clock: clk.Now})
	return v
}

// car is a blob with its CAR CID.
type car struct {
	data []byte
	cid  cid.Cid
}

func newCAR(t testing.TB, data string) car {
	t.Helper()
	sum := sha256.Sum256([]byte(data))
	mh, err := multihash.Encode(sum[:], multihash.SHA2_256)
	if err != nil {
		t.Fatal(err)
	}
	return car{data: []byte(data), cid: cid.NewCidV1(collection.CodecCAR, mh)}
}

func newSpace(t testing.TB) did.Signer {
	t.Helper()
	s, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func storePath(space did.Signer, c cid.Cid) dag.Path {
	return dag.Path{Subject: space.DID(), Collection: Name, Key: c.String()}
}

func storeValue(c cid.Cid, size int64) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "link", qp.Link(cidlink.Link{Cid: c}))
		qp.MapEntry(ma, "size", qp.Int(size))
	})
	return n
}

// op seals an invocation of cmd by the space on itself.
func (v *env) op(space did.Signer, cmd string, p dag.Path, value datamodel.Node) *ucan.Token {
	v.t.Helper()
	args, err := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "path", qp.String(p.Rel()))
		if value != nil {
			qp.MapEntry(ma, "value", qp.Node(value))
		}
	})
	if err != nil {
		v.t.Fatal(err)
	}
	inv := &ucan.Invocation{Issuer: space.DID(), Subject: space.DID(), Audience: v.service.DID(), Command: cmd, Args: args, Nonce: ucan.NewNonce()}
	tok, err := inv.Seal(space, ucan.SealOptions{})
	if err != nil {
		v.t.Fatal(err)
	}
	return tok
}

// put stores c in space with the given size and returns the result.
func (v *env) put(space did.Signer, c car, size int64) *dag.Result {
	v.t.Helper()
	p := storePath(space, c.cid)
	value := storeValue(c.cid, size)
	res, err := v.e.Put(context.Background(), v.op(space, "/dag/put", p, value), p, value)
	if err != nil {
		v.t.Fatalf("put %s: %v", p, err)
	}
	return res
}

func (v *env) remove(space did.Signer, c car) *dag.Result {
	v.t.Helper()
	p := storePath(space, c.cid)
	res, err := v.e.Remove(context.Background(), v.op(space, "/dag/remove", p, nil), p)
	if err != nil {
		v.t.Fatalf("remove %s: %v", p, err)
	}
	return res
}

func (v *env) entry(space did.Signer, c car) *dag.Entry {
	v.t.Helper()
	e, err := v.e.Entry(context.Background(), storePath(space, c.cid))
	if err != nil {
		v.t.Fatalf("entry: %v", err)
	}
	return e
}

// pendingURL returns the upload URL of a pending state, parsed.
func pendingURL(t testing.TB, state datamodel.Node) *url.URL {
	t.Helper()
	n, err := state.LookupByString("url")
	if err != nil {
		t.Fatalf("state has no url: %v", err)
	}
	s, _ := n.AsString()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// upload PUTs data to the pending entry's URL through Blobs.Upload.
func (v *env) upload(state datamodel.Node, c cid.Cid, data []byte) error {
	u := pendingURL(v.t, state)
	return v.b.Upload(context.Background(), c, bytes.NewReader(data), int64(len(data)), u.Query())
}

// counters reads the usage size of space and the add/remove counters of a subject.
type counters struct {
	size                                 int64
	addTotal, addSize, remTotal, remSize int64
}

func (v *env) counters(space, subject string) counters {
	v.t.Helper()
	var c counters
	err := v.e.View(context.Background(), func(tx *dag.Tx) error {
		var err error
		if c.size, err = usage.Size(tx, space); err != nil {
			return err
		}
		for _, x := range []struct {
			name string
			to   *int64
		}{{metrics.StoreAddTotal, &c.addTotal}, {metrics.StoreAddSizeTotal, &c.addSize}, {metrics.StoreRemoveTotal, &c.remTotal}, {metrics.StoreRemoveSizeTotal, &c.remSize}} {
			if *x.to, err = metrics.Get(tx, subject, x.name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		v.t.Fatal(err)
	}
	return c
}

// pendingSpacesOf lists the pending index of c.
func (v *env) pendingSpacesOf(c cid.Cid) []string {
	v.t.Helper()
	var out []string
	err := v.e.View(context.Background(), func(tx *dag.Tx) error {
		var err error
		out, err = pendingSpaces(tx, c)
		return err
	})
	if err != nil {
		v.t.Fatal(err)
	}
	return out
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func digestOf(t testing.TB, c car) []byte {
	t.Helper()
	d, err := Digest(c.cid)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func cidOf(l datamodel.Link) cid.Cid {
	if cl, ok := l.(cidlink.Link); ok {
		return cl.Cid
	}
	return cid.Undef
}

func cidWithCodec(c cid.Cid, codec uint64) cid.Cid { return cid.NewCidV1(codec, c.Hash()) }
