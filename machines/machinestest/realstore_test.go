package machinestest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/blob"
	blobfs "github.com/w3dag/w3dag/blob/fs"
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/bolt"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/store"
	"github.com/w3dag/w3dag/machines/task"
	commp "github.com/w3dag/w3dag/piece"
	"github.com/w3dag/w3dag/ucan/did"
)

// realWorld drives the real store machine (machines/store) over bolt and fs.
type realWorld struct {
	t      *testing.T
	rng    *rand.Rand
	clock  *clock
	dir    string
	svc    did.Signer
	v      *machinestest.Env
	fs     *blobfs.Store
	m      *store.Machine
	b      *store.Blobs
	runner *task.Runner
	owners []did.Signer
	data   map[string][]byte // CAR CID → bytes
	cids   []cid.Cid
	sizes  map[string]int64 // space/CID → size
}

func (w *realWorld) open(st *bolt.Store) {
	t := w.t
	var err error
	w.m, err = store.New(store.Options{Blobs: w.fs, Locator: carwhere.FSLocator(filepath.Join(w.dir, "blobs"), "http://w3dag.test"), Clock: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ms := machinestest.Collections(w.m)
	if w.v == nil {
		w.v = machinestest.Open(t, st, w.svc, ms, w.clock.Now)
	} else {
		w.v.Collections = ms
		w.v.Reopen(st)
	}
	if w.b, err = store.NewBlobs(w.v.E, w.fs, store.BlobsOptions{Clock: w.clock.Now}); err != nil {
		t.Fatal(err)
	}
	handlers := w.m.Handlers(w.v.E)
	maps.Copy(handlers, piece.Handlers(w.v.E, w.fs, nil))
	w.runner = task.NewRunner(w.v.E, handlers, task.RunnerOptions{Clock: w.clock.Now, Concurrency: 16})
}

func (w *realWorld) reopen() {
	w.v.E.Close()
	if err := w.v.KV.Close(); err != nil {
		w.t.Fatal(err)
	}
	st, err := bolt.Open(filepath.Join(w.dir, "kv.db"), bolt.Options{NoSync: true})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { st.Close() })
	w.open(st)
}

func (w *realWorld) spaces() []string {
	out := make([]string, len(w.owners))
	for i, o := range w.owners {
		out[i] = o.DID()
	}
	return out
}

// op: put (a repeat checks arrival), remove, or upload the bytes of a CAR and deliver
// them to every pending entry.
func (w *realWorld) op(ctx context.Context, rng *rand.Rand) error {
	o := w.owners[rng.IntN(len(w.owners))]
	c := w.cids[rng.IntN(len(w.cids))]
	p := machinestest.Path(o.DID(), "store", c.String())
	switch k := rng.IntN(10); {
	case k < 6:
		val := machinestest.StoreValue(c, int64(len(w.data[c.String()])))
		res, err := w.v.E.Put(ctx, machinestest.Invocation(w.t, o, "/dag/put", p, val), p, val)
		if err == nil && res.Err != nil {
			return fmt.Errorf("put %s: %w", p, res.Err)
		}
		return err
	case k < 8:
		res, err := w.v.E.Remove(ctx, machinestest.Invocation(w.t, o, "/dag/remove", p, nil), p)
		if err == nil && res.Err != nil && dag.ErrorName(res.Err) != dag.ErrNotFound.Name {
			return fmt.Errorf("remove %s: %w", p, res.Err)
		}
		return err
	default:
		d := w.data[c.String()]
		sum := sha256.Sum256(d)
		if err := w.fs.Put(ctx, carwhere.BlobKey(c), bytes.NewReader(d), blob.PutOptions{Size: int64(len(d)), SHA256: sum[:]}); err != nil {
			return err
		}
		_, err := w.b.Deliver(ctx, c, int64(len(d)))
		return err
	}
}

func (w *realWorld) concurrently(ctx context.Context, n int, same bool) error {
	errs := make(chan error, n)
	var wg sync.WaitGroup
	seed := w.rng.Uint64()
	for i := range n {
		s := uint64(i)
		if same {
			s = 0 // the same op from every goroutine
		}
		rng := rand.New(rand.NewPCG(seed, s))
		wg.Add(1)
		go func() { defer wg.Done(); errs <- w.op(ctx, rng) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *realWorld) check(ctx context.Context, start int64) {
	w.t.Helper()
	tr, err := machinestest.Recompute(ctx, w.v.E, w.sizes)
	if err != nil {
		w.t.Fatal(err)
	}
	end := w.clock.Now().UnixMilli() + 1
	windows := [][2]int64{{start - 1, end}}
	for range 5 {
		a := start + w.rng.Int64N(end-start)
		windows = append(windows, [2]int64{a, a + 1 + w.rng.Int64N(end-a)})
	}
	if err := machinestest.Check(ctx, w.v.E, tr, w.spaces(), windows); err != nil {
		w.t.Fatal(err)
	}
	if _, err := machinestest.ValidateStates(ctx, w.v.E); err != nil {
		w.t.Fatal(err)
	}
}

// checkPieces runs the due tasks to the end and checks that every CAR that was ever held
// (located in carwhere) has one piece, computed with the piece CID of its bytes, and that
// the others have none.
func (w *realWorld) checkPieces(ctx context.Context) {
	w.t.Helper()
	for {
		n, err := w.runner.RunOnce(ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	svc := w.v.E.Service()
	held := 0
	for _, c := range w.cids {
		_, lerr := w.v.E.Entry(ctx, carwhere.Path(svc, c))
		e, perr := w.v.E.Entry(ctx, piece.Path(svc, c))
		if errors.Is(lerr, dag.ErrNotFound) {
			if !errors.Is(perr, dag.ErrNotFound) {
				w.t.Fatalf("%s was never held but has a piece: %v", c, perr)
			}
			continue
		}
		held++
		if perr != nil {
			w.t.Fatalf("%s is held without a piece: %v", c, perr)
		}
		want, err := commp.Compute(bytes.NewReader(w.data[c.String()]))
		if err != nil {
			w.t.Fatal(err)
		}
		if got, err := piece.Computed(e.State); e.Status != piece.StatusComputed || err != nil || !got.Equals(want.CID()) {
			w.t.Fatalf("piece of %s: %s %v %v, want computed %s", c, e.Status, got, err, want.CID())
		}
		if e.Seq == 0 || e.Order == e.Seq {
			w.t.Fatalf("piece of %s: one receipt only (seq %d, order %d); want queued then computed", c, e.Seq, e.Order)
		}
	}
	if held == 0 {
		w.t.Fatal("no CAR was ever held: the run exercised too little")
	}
	if _, err := machinestest.ValidateStates(ctx, w.v.E); err != nil {
		w.t.Fatal(err)
	}
}

// TestUsagePropertyRealStore runs the property of TestUsageProperty with the real store
// machine: pending entries, bytes delivered to every space waiting for them, bytes held
// already (done at once), expiry tasks, removals, concurrent identical puts and restarts.
func TestUsagePropertyRealStore(t *testing.T) {
	steps := 200
	if testing.Short() {
		steps = 60
	}
	dir := t.TempDir()
	fsStore, err := blobfs.Open(filepath.Join(dir, "blobs"), blobfs.Options{
		Secret: bytes.Repeat([]byte{7}, blobfs.MinSecretLength),
		URL:    func(key string) string { return "http://w3dag.test/blob/" + filepath.Base(filepath.Dir(key)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsStore.Close() })
	st, err := bolt.Open(filepath.Join(dir, "kv.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &realWorld{t: t, rng: rand.New(rand.NewPCG(42, 4242)), clock: &clock{now: time.UnixMilli(1_770_000_000_000)}, dir: dir,
		svc: machinestest.Signer(t), fs: fsStore, data: map[string][]byte{}, sizes: map[string]int64{}}
	for range 8 {
		d := make([]byte, 1+w.rng.IntN(4096))
		for j := range d {
			d[j] = byte(w.rng.IntN(256))
		}
		sum := sha256.Sum256(d)
		mh, _ := multihash.Encode(sum[:], multihash.SHA2_256)
		c := cid.NewCidV1(collection.CodecCAR, mh)
		w.data[c.String()] = d
		w.cids = append(w.cids, c)
	}
	for range 3 {
		o := machinestest.Signer(t)
		w.owners = append(w.owners, o)
		for _, c := range w.cids {
			w.sizes[o.DID()+"/"+c.String()] = int64(len(w.data[c.String()]))
		}
	}
	w.open(st)
	ctx := context.Background()
	start := w.clock.Now().UnixMilli()
	for step := range steps {
		if w.rng.IntN(20) == 0 {
			w.clock.Add(store.DefaultUploadURLTTL)
		} else {
			w.clock.Add(time.Duration(w.rng.IntN(4000)) * time.Millisecond)
		}
		var err error
		switch k := w.rng.IntN(100); {
		case k < 50:
			err = w.op(ctx, w.rng)
		case k < 65:
			err = w.concurrently(ctx, 2+w.rng.IntN(4), true)
		case k < 85:
			err = w.concurrently(ctx, 2+w.rng.IntN(8), false)
		case k < 95:
			_, err = w.runner.RunOnce(ctx)
		default:
			w.reopen()
		}
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if step%50 == 49 {
			w.check(ctx, start)
		}
	}
	w.check(ctx, start)
	w.reopen()
	w.check(ctx, start)
	w.checkPieces(ctx)
	tr, err := machinestest.Recompute(ctx, w.v.E, w.sizes)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, cs := range tr.Changes {
		n += len(cs)
	}
	if n < 10 {
		t.Fatalf("only %d usage changes: the run exercised too little", n)
	}
	t.Logf("%d usage changes over %d spaces", n, len(w.owners))
}
