package machinestest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/bolt"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/ucan/did"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// world is the driver's view: spaces, their blobs and sizes.
type world struct {
	t      *testing.T
	rng    *rand.Rand
	v      *machinestest.Env
	clock  *clock
	file   string
	owners []did.Signer
	blobs  [][]cid.Cid // per space
	sizes  map[string]int64
	runner *task.Runner
}

func (w *world) spaces() []string {
	out := make([]string, len(w.owners))
	for i, o := range w.owners {
		out[i] = o.DID()
	}
	return out
}

func (w *world) newRunner() {
	w.runner = task.NewRunner(w.v.E, map[string]task.Handler{machinestest.ExpireCmd: machinestest.ExpireHandler(w.v.E)},
		task.RunnerOptions{Clock: w.clock.Now, Owner: "property", Concurrency: 16})
}

func (w *world) storePath(s, b int) dag.Path {
	return machinestest.Path(w.owners[s].DID(), "store", w.blobs[s][b].String())
}

// op runs one random operation against space s, from any goroutine; it returns an error
// instead of failing the test.
func (w *world) op(ctx context.Context, rng *rand.Rand, s int) error {
	e := w.v.E
	owner := w.owners[s]
	b := rng.IntN(len(w.blobs[s]))
	p := w.storePath(s, b)
	blob := w.blobs[s][b]
	switch k := rng.IntN(10); {
	case k < 5:
		val := machinestest.StoreValue(blob, w.sizes[owner.DID()+"/"+blob.String()])
		_, err := e.Put(ctx, machinestest.Invocation(w.t, owner, "/dag/put", p, val), p, val)
		return err
	case k < 8:
		res, err := e.Remove(ctx, machinestest.Invocation(w.t, owner, "/dag/remove", p, nil), p)
		if err == nil && res.Err != nil && dag.ErrorName(res.Err) != dag.ErrNotFound.Name {
			return fmt.Errorf("remove %s: %w", p, res.Err)
		}
		return err
	default:
		// an upload of a random subset of the space's blobs (stored or not), or its removal
		root := w.blobs[s][0] // one upload root per space keeps add/remove interleaving
		rootLink := cid.NewCidV1(cid.DagCBOR, root.Hash())
		up := machinestest.Path(owner.DID(), "upload", rootLink.String())
		if rng.IntN(3) == 0 {
			_, err := e.Remove(ctx, machinestest.Invocation(w.t, owner, "/dag/remove", up, nil), up)
			return err
		}
		var shards []cid.Cid
		for _, c := range w.blobs[s] {
			if rng.IntN(2) == 0 {
				shards = append(shards, c)
			}
		}
		val := machinestest.UploadValue(rootLink, shards...)
		_, err := e.Put(ctx, machinestest.Invocation(w.t, owner, "/dag/put", up, val), up, val)
		return err
	}
}

// concurrentSame puts the same value at the same path from n goroutines at once, some
// with the very same invocation.
func (w *world) concurrentSame(ctx context.Context, s, b, n int) error {
	owner := w.owners[s]
	p := w.storePath(s, b)
	blob := w.blobs[s][b]
	val := machinestest.StoreValue(blob, w.sizes[owner.DID()+"/"+blob.String()])
	shared := machinestest.Invocation(w.t, owner, "/dag/put", p, val)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		inv := shared
		if i%2 == 1 {
			inv = machinestest.Invocation(w.t, owner, "/dag/put", p, val)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := w.v.E.Put(ctx, inv, p, val)
			errs <- err
		}()
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

func (w *world) concurrentMixed(ctx context.Context, n int) error {
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		rng := rand.New(rand.NewPCG(w.rng.Uint64(), uint64(i)))
		s := rng.IntN(len(w.owners))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- w.op(ctx, rng, s)
		}()
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

func (w *world) reopen() {
	w.t.Helper()
	w.v.E.Close()
	if err := w.v.KV.Close(); err != nil {
		w.t.Fatal(err)
	}
	st, err := bolt.Open(w.file, bolt.Options{NoSync: true})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { st.Close() })
	w.v.Reopen(st)
	w.newRunner()
}

func (w *world) check(ctx context.Context, start int64) {
	w.t.Helper()
	tr, err := machinestest.Recompute(ctx, w.v.E, w.sizes)
	if err != nil {
		w.t.Fatal(err)
	}
	end := w.clock.Now().UnixMilli() + 1
	windows := [][2]int64{{start - 1000, end + 1000}, {start, end}}
	for range 6 {
		a := start - 500 + w.rng.Int64N(end-start+1000)
		b := a + 1 + w.rng.Int64N(end+500-a)
		windows = append(windows, [2]int64{a, b})
	}
	if err := machinestest.Check(ctx, w.v.E, tr, w.spaces(), windows); err != nil {
		w.t.Fatal(err)
	}
	if _, err := machinestest.ValidateStates(ctx, w.v.E); err != nil {
		w.t.Fatal(err)
	}
	// The segment integral agrees with the per-millisecond one on short windows.
	for _, space := range w.spaces() {
		for range 3 {
			a := start + w.rng.Int64N(end-start)
			b := min(a+1+w.rng.Int64N(3000), end+1)
			_, _, seg := machinestest.Integral(tr.Changes[space], a, b)
			if per := machinestest.IntegralPerMs(tr.Changes[space], a, b); seg.Cmp(per) != 0 {
				w.t.Fatalf("%s [%d, %d): segment integral %s, per-ms %s", space, a, b, seg, per)
			}
		}
	}
}

func newWorld(t *testing.T, seed uint64) *world {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	file := filepath.Join(t.TempDir(), "property.db")
	st, err := bolt.Open(file, bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{now: time.UnixMilli(1_750_000_000_000)}
	w := &world{t: t, rng: rng, clock: c, file: file, sizes: map[string]int64{}}
	w.v = machinestest.Open(t, st, nil, nil, c.Now)
	shared := machinestest.CAR(t) // one CAR in every space: counted once per space
	for range 3 {
		o := machinestest.Signer(t)
		w.owners = append(w.owners, o)
		bs := []cid.Cid{shared}
		for range 4 {
			bs = append(bs, machinestest.CAR(t))
		}
		for _, b := range bs {
			w.sizes[o.DID()+"/"+b.String()] = 1 + rng.Int64N(1<<20)
		}
		w.blobs = append(w.blobs, bs)
	}
	w.newRunner()
	return w
}

// TestUsageProperty: random interleavings over several spaces of stores, repeats,
// removals, re-stores, uploads, concurrent identical stores, expiry tasks and engine
// restarts over the same bolt file. Afterwards the usage of every space over many windows
// equals the brute-force recomputation from the store receipts in the commit log, every
// non-zero usage record matches one change of the log, and the metrics equal the sums.
func TestUsageProperty(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	steps := 250
	if testing.Short() {
		seeds, steps = seeds[:1], 80
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w := newWorld(t, seed)
			ctx := context.Background()
			start := w.clock.Now().UnixMilli()
			for step := range steps {
				switch k := w.rng.IntN(100); {
				case k < 10:
					w.clock.Add(0) // same millisecond as the step before
				case k < 95:
					w.clock.Add(time.Duration(w.rng.IntN(5000)) * time.Millisecond)
				default:
					w.clock.Add(machinestest.ExpireAfter)
				}
				var err error
				switch k := w.rng.IntN(100); {
				case k < 55:
					err = w.op(ctx, w.rng, w.rng.IntN(len(w.owners)))
				case k < 70:
					s := w.rng.IntN(len(w.owners))
					err = w.concurrentSame(ctx, s, w.rng.IntN(len(w.blobs[s])), 2+w.rng.IntN(5))
				case k < 85:
					err = w.concurrentMixed(ctx, 2+w.rng.IntN(8))
				case k < 95:
					_, err = w.runner.RunOnce(ctx)
				default:
					w.reopen()
				}
				if err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				if step%100 == 99 {
					w.check(ctx, start)
				}
			}
			w.clock.Add(machinestest.ExpireAfter)
			for {
				n, err := w.runner.RunOnce(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
			}
			w.check(ctx, start)
			w.reopen()
			w.check(ctx, start)
		})
	}
}
