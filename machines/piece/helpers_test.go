package piece_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"maps"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/blob"
	blobfs "github.com/w3dag/w3dag/blob/fs"
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/store"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

const publicURL = "http://w3dag.test"

// clock is a settable clock shared by the engine, the store machine and the runner.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// gatedBlobs is the blob store the piece handler reads through: it counts Gets, can fail
// them, and can block the first Read of a blob until released (or the read's context
// ends), so a test can stop the process in the middle of a computation.
type gatedBlobs struct {
	blob.Store
	mu      sync.Mutex
	gets    int
	fail    error
	block   chan struct{} // closed to release blocked reads; nil: no blocking
	started chan struct{} // receives once per blocked read
}

func (g *gatedBlobs) Get(ctx context.Context, key string, rng *blob.Range) (io.ReadCloser, blob.Info, error) {
	g.mu.Lock()
	g.gets++
	fail, block, started := g.fail, g.block, g.started
	g.mu.Unlock()
	if fail != nil {
		return nil, blob.Info{}, fail
	}
	rc, info, err := g.Store.Get(ctx, key, rng)
	if err != nil || block == nil {
		return rc, info, err
	}
	return &blockedReader{ReadCloser: rc, ctx: ctx, block: block, started: started}, info, nil
}

func (g *gatedBlobs) Gets() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gets
}

func (g *gatedBlobs) set(fn func(g *gatedBlobs)) {
	g.mu.Lock()
	fn(g)
	g.mu.Unlock()
}

type blockedReader struct {
	io.ReadCloser
	ctx     context.Context
	block   chan struct{}
	started chan struct{}
	once    sync.Once
}

func (b *blockedReader) Read(p []byte) (int, error) {
	var err error
	b.once.Do(func() {
		b.started <- struct{}{}
		select {
		case <-b.block:
		case <-b.ctx.Done():
			err = b.ctx.Err()
		}
	})
	if err != nil {
		return 0, err
	}
	return b.ReadCloser.Read(p)
}

// env is an engine with the built-in collections and the real store machine over blob/fs,
// and a task runner with the store's and the piece's handlers.
type env struct {
	t      *testing.T
	clock  *clock
	dir    string
	svc    did.Signer
	fs     *blobfs.Store
	blobs  *gatedBlobs
	sm     *store.Machine
	v      *machinestest.Env
	b      *store.Blobs
	runner *task.Runner
	pieces *piece.Staged         // the upload endpoint's and the store machine's; nil: none
	noMD5  bool                  // the compute handler hashes no md5
	yield  func(context.Context) // the compute handler's ComputeOptions.Yield; nil: none
}

var runnerOptions = task.RunnerOptions{Lease: time.Minute, BaseBackoff: time.Second, MaxBackoff: 8 * time.Second, MaxAttempts: 5}

func newEnv(t *testing.T, st kv.Store, dir string) *env {
	t.Helper()
	return newEnvWith(t, st, dir, func(*env) {})
}

// newEnvWith is newEnv with configure setting the env's options (pieces, noMD5, yield) before
// the machines are built.
func newEnvWith(t *testing.T, st kv.Store, dir string, configure func(*env)) *env {
	t.Helper()
	if st == nil {
		st = mem.New()
	}
	if dir == "" {
		dir = t.TempDir()
	}
	fsStore, err := blobfs.Open(filepath.Join(dir, "blobs"), blobfs.Options{
		Secret: bytes.Repeat([]byte{7}, blobfs.MinSecretLength),
		URL:    func(key string) string { return publicURL + "/blob/" + filepath.Base(filepath.Dir(key)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsStore.Close() })
	v := &env{t: t, clock: &clock{now: time.UnixMilli(1_770_000_000_000)}, dir: dir, svc: machinestest.Signer(t), fs: fsStore, blobs: &gatedBlobs{Store: fsStore}}
	configure(v)
	v.open(st)
	return v
}

// open opens the engine over st (again, after a restart).
func (v *env) open(st kv.Store) {
	t := v.t
	var err error
	v.sm, err = store.New(store.Options{Blobs: v.fs, Locator: carwhere.FSLocator(filepath.Join(v.dir, "blobs"), publicURL), Clock: v.clock.Now, Pieces: v.pieces})
	if err != nil {
		t.Fatal(err)
	}
	cols := machinestest.Collections(v.sm)
	if v.v == nil {
		v.v = machinestest.Open(t, st, v.svc, cols, v.clock.Now)
	} else {
		v.v.Collections = cols
		v.v.Reopen(st)
	}
	if v.b, err = store.NewBlobs(v.v.E, v.fs, store.BlobsOptions{Clock: v.clock.Now, Pieces: v.pieces}); err != nil {
		t.Fatal(err)
	}
	handlers := v.sm.Handlers(v.v.E)
	maps.Copy(handlers, piece.HandlersWith(v.v.E, v.blobs, piece.ComputeOptions{NoMD5: v.noMD5, Yield: v.yield}))
	o := runnerOptions
	o.Clock = v.clock.Now
	v.runner = task.NewRunner(v.v.E, handlers, o)
}

// car is CAR bytes with their CID.
type car struct {
	data []byte
	cid  cid.Cid
}

func newCAR(t testing.TB, seed uint64, size int) car {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	d := make([]byte, size)
	for i := range d {
		d[i] = byte(rng.IntN(256))
	}
	sum := sha256.Sum256(d)
	mh, err := multihash.Encode(sum[:], multihash.SHA2_256)
	if err != nil {
		t.Fatal(err)
	}
	return car{data: d, cid: cid.NewCidV1(collection.CodecCAR, mh)}
}

// hold writes c's bytes at its blob key, as an upload would have.
func (v *env) hold(c car) {
	v.t.Helper()
	sum := sha256.Sum256(c.data)
	if err := v.fs.Put(context.Background(), carwhere.BlobKey(c.cid), bytes.NewReader(c.data), blob.PutOptions{Size: int64(len(c.data)), SHA256: sum[:]}); err != nil {
		v.t.Fatal(err)
	}
}

func storePath(space did.Signer, c cid.Cid) dag.Path {
	return machinestest.Path(space.DID(), store.Name, c.String())
}

// put stores c in space.
func (v *env) put(space did.Signer, c car) *dag.Result {
	v.t.Helper()
	return machinestest.MustOK(v.t, v.v.Put(space, storePath(space, c.cid), machinestest.StoreValue(c.cid, int64(len(c.data)))))
}

// upload PUTs c's bytes to the URL of a pending entry, as the fs upload endpoint does.
func (v *env) upload(state datamodel.Node, c car) {
	v.t.Helper()
	n, err := state.LookupByString("url")
	if err != nil {
		v.t.Fatalf("state has no url: %v", err)
	}
	s, _ := n.AsString()
	u, err := url.Parse(s)
	if err != nil {
		v.t.Fatal(err)
	}
	if err := v.b.Upload(context.Background(), c.cid, bytes.NewReader(c.data), int64(len(c.data)), u.Query()); err != nil {
		v.t.Fatal(err)
	}
}

func (v *env) piecePath(c car) dag.Path { return piece.Path(v.v.E.Service(), c.cid) }

func (v *env) entry(p dag.Path) *dag.Entry {
	v.t.Helper()
	e, err := v.v.E.Entry(context.Background(), p)
	if err != nil {
		v.t.Fatalf("entry %s: %v", p, err)
	}
	return e
}

// runOnce runs the due tasks and checks how many ran.
func (v *env) runOnce(want int) {
	v.t.Helper()
	n, err := v.runner.RunOnce(context.Background())
	if err != nil || n != want {
		v.t.Fatalf("RunOnce: %d tasks ran (want %d), %v", n, want, err)
	}
}

// fx returns the effects of a receipt that are piece compute tasks (a store receipt
// lists others too: its usage record, carwhere update, expiry or block-index task).
func (v *env) fx(tok *ucan.Token) []cid.Cid {
	v.t.Helper()
	r, err := receipts.Parse(tok)
	if err != nil {
		v.t.Fatal(err)
	}
	var out []cid.Cid
	for _, c := range r.Fx {
		inv, err := v.v.E.Receipt(context.Background(), c)
		if err != nil || inv.Invocation == nil {
			v.t.Fatalf("fx %s does not name a stored invocation: %v", c, err)
		}
		if inv.Invocation.Command == piece.ComputeCommand {
			out = append(out, c)
		}
	}
	return out
}

// chain returns the statuses of the receipts from head back to the first.
func (v *env) chain(head cid.Cid) []string {
	v.t.Helper()
	var out []string
	err := v.v.E.Chain(context.Background(), head, func(_ *ucan.Token, r *receipts.Receipt) error {
		st, err := r.Out.Ok.LookupByString(dag.StatusKey)
		if err != nil {
			return err
		}
		s, err := st.AsString()
		out = append(out, s)
		return err
	})
	if err != nil {
		v.t.Fatal(err)
	}
	return out
}

// taskEntry returns the task entry of the invocation inv.
func (v *env) taskEntry(inv cid.Cid) *dag.Entry {
	v.t.Helper()
	return v.entry(dag.Path{Subject: v.v.E.Service(), Collection: task.Name, Key: inv.String()})
}

// computeTasks counts the compute tasks scheduled (every task entry whose invocation's
// command is piece.ComputeCommand).
func (v *env) computeTasks() int {
	v.t.Helper()
	ctx := context.Background()
	n := 0
	var cursor string
	for {
		p := dag.Path{Subject: v.v.E.Service(), Collection: task.Name}
		page, err := v.v.E.SelectPage(ctx, p, dag.Query{Limit: 100, Cursor: cursor})
		if err != nil {
			v.t.Fatal(err)
		}
		for _, e := range page.Entries {
			c, err := cid.Decode(e.Path.Key)
			if err != nil {
				v.t.Fatal(err)
			}
			inv, err := v.v.E.Receipt(ctx, c)
			if err != nil {
				v.t.Fatal(err)
			}
			if inv.Invocation != nil && inv.Invocation.Command == piece.ComputeCommand {
				n++
			}
		}
		if page.Cursor == "" {
			return n
		}
		cursor = page.Cursor
	}
}

var errDiskGone = errors.New("disk gone")
