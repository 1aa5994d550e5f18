package dag_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/pebble"
)

// heldKV is a kv/pebble store whose pipelined commits (kv.Pipeliner) can be held from
// becoming durable: while held, the wait of each commit applied blocks until release, and
// then returns the error release was given (if any). kv/pebble publishes what Views read
// only once a commit's wait settles it, so while held no View sees the writes.
type heldKV struct {
	*pebble.Store
	mu      sync.Mutex
	gate    chan struct{} // closed by release; nil while not held
	fail    error
	applied chan struct{} // receives a value for each commit applied while held
}

func newHeldKV(t *testing.T) *heldKV {
	st, err := pebble.Open(filepath.Join(t.TempDir(), "kv"), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &heldKV{Store: st, applied: make(chan struct{}, 16)}
}

// newHeldEnv is an env on a heldKV with one note put (notes/before), its syncs released
// when the test ends, before the engine closes, should the test fail while they are held.
func newHeldEnv(t *testing.T) (*heldKV, *env) {
	h := newHeldKV(t)
	v := newEnv(t, h)
	t.Cleanup(func() { h.release(nil) })
	v.put(v.path("notes/before"), note("x"))
	return h, v
}

// noEvent checks that watch delivers nothing for a while (50 ms).
func noEvent(t *testing.T, watch <-chan dag.Event, what string) {
	t.Helper()
	select {
	case ev := <-watch:
		t.Fatalf("a watcher saw %+v %s", ev, what)
	case <-time.After(50 * time.Millisecond):
	}
}

func (h *heldKV) hold() {
	h.mu.Lock()
	h.gate = make(chan struct{})
	h.mu.Unlock()
}

// release lets the held commits' waits return, failing them with fail when not nil.
func (h *heldKV) release(fail error) {
	h.mu.Lock()
	h.fail = fail
	if h.gate != nil {
		close(h.gate)
		h.gate = nil
	}
	h.mu.Unlock()
}

func (h *heldKV) UpdateApplied(ctx context.Context, fn func(kv.Tx) error) (func() error, error) {
	wait, err := h.Store.UpdateApplied(ctx, fn)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	gate := h.gate
	h.mu.Unlock()
	if gate == nil {
		return wait, nil
	}
	h.applied <- struct{}{}
	return func() error {
		<-gate
		err := wait()
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.fail != nil {
			return h.fail
		}
		return err
	}, nil
}

// Update is UpdateApplied and its wait, as kv/pebble's is.
func (h *heldKV) Update(ctx context.Context, fn func(kv.Tx) error) error {
	wait, err := h.UpdateApplied(ctx, fn)
	if err != nil {
		return err
	}
	return wait()
}

// waitApplied waits for the next commit applied while h is held.
func waitApplied(t *testing.T, h *heldKV, what string) {
	t.Helper()
	select {
	case <-h.applied:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s was never applied", what)
	}
}

// pipelinedPut runs a put on its own goroutine; the channel receives its error.
func pipelinedPut(v *env, p dag.Path) <-chan error {
	c := make(chan error, 1)
	tok := v.inv(v.agent, p.Subject, "/dag/put", pathArgs(p, note("x")))
	go func() {
		res, err := v.e.Put(context.Background(), tok, p, note("x"))
		if err == nil && res.Err != nil {
			err = res.Err
		}
		c <- err
	}()
	return c
}

// wantNothingDurable checks that no operation of the held batches is acknowledged or seen:
// the puts have not returned, the entries are not read, no watcher or Records reader
// sees a record after seq.
func wantNothingDurable(t *testing.T, v *env, seq uint64, watch <-chan dag.Event, puts []<-chan error, paths ...dag.Path) {
	t.Helper()
	ctx := context.Background()
	for i, c := range puts {
		select {
		case err := <-c:
			t.Fatalf("put %d returned (%v) before its batch was durable", i, err)
		default:
		}
	}
	for _, p := range paths {
		if ent, err := v.e.Entry(ctx, p); !errors.Is(err, dag.ErrNotFound) {
			t.Fatalf("Engine.Entry(%s) before the batch was durable: %+v, %v; want ErrNotFound", p, ent, err)
		}
	}
	if recs, err := v.e.Records(ctx, seq, 0); err != nil || len(recs) > 0 {
		t.Fatalf("Engine.Records before the batch was durable: %d records, %v", len(recs), err)
	}
	noEvent(t, watch, "before its batch was durable")
}

// TestPipelinedCommit holds a pipelined store's syncs: the committer applies a batch and
// runs the next one (which reads the first's commit sequence) while the first is not
// durable, and nothing of either is acknowledged, read by Engine.View or seen by watchers
// and Engine.Records until both are; then both puts return and the records arrive in
// commit order. It fails on an engine that waits for each commit before running the next
// (the second batch is never applied while the first is held) and on one that answers a
// batch when it is applied.
func TestPipelinedCommit(t *testing.T) {
	h, v := newHeldEnv(t)
	ctx := context.Background()
	seq := must(v.e.LastSeq(ctx))
	watch := must(v.e.Watch(ctx, dag.Path{}, seq))

	h.hold()
	p1, p2 := v.path("notes/p1"), v.path("notes/p2")
	puts := []<-chan error{pipelinedPut(v, p1)}
	waitApplied(t, h, "the first batch")
	wantNothingDurable(t, v, seq, watch, puts, p1)
	puts = append(puts, pipelinedPut(v, p2))
	waitApplied(t, h, "the next batch, while the first was not durable,")
	wantNothingDurable(t, v, seq, watch, puts, p1, p2)

	h.release(nil)
	for i, c := range puts {
		if err := <-c; err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	for i, p := range []dag.Path{p1, p2} {
		ent, err := v.e.Entry(ctx, p)
		if err != nil {
			t.Fatalf("Engine.Entry(%s) after the release: %v", p, err)
		}
		if want := seq + uint64(i) + 1; ent.Seq != want {
			t.Fatalf("%s has seq %d, want %d (the second batch reads the first's sequence)", p, ent.Seq, want)
		}
	}
	for i, want := range []dag.Path{p1, p2} {
		select {
		case ev := <-watch:
			if ev.Seq != seq+uint64(i)+1 || ev.Path.String() != want.String() {
				t.Fatalf("watcher event %d: %d %s, want %d %s", i, ev.Seq, ev.Path, seq+uint64(i)+1, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the watcher never saw event %d", i)
		}
	}
	if recs := must(v.e.Records(ctx, seq, 0)); len(recs) != 2 {
		t.Fatalf("Engine.Records after the release: %d records, want 2", len(recs))
	}
}

// TestPipelinedCommitFailure fails the sync of a held batch: its put and that of the batch
// applied after it (which read its writes) fail with the sync's error, as a failed store's
// (kv.ErrFailed), no watcher or Records reader sees their records, later operations fail
// too, and Engine.Failed says why from then on.
func TestPipelinedCommitFailure(t *testing.T) {
	h, v := newHeldEnv(t)
	ctx := context.Background()
	seq := must(v.e.LastSeq(ctx))
	watch := must(v.e.Watch(ctx, dag.Path{}, seq))
	if err := v.e.Failed(); err != nil {
		t.Fatalf("Failed before any failure: %v", err)
	}

	h.hold()
	puts := []<-chan error{pipelinedPut(v, v.path("notes/p1"))}
	waitApplied(t, h, "the first batch")
	puts = append(puts, pipelinedPut(v, v.path("notes/p2")))
	waitApplied(t, h, "the next batch")
	errSync := errors.New("test: sync failed")
	h.release(errSync)
	for i, c := range puts {
		if err := <-c; !errors.Is(err, errSync) || !errors.Is(err, kv.ErrFailed) || !errors.Is(err, dag.ErrCommit) {
			t.Fatalf("put %d of a batch that failed to sync (or after it): %v, want %v and kv.ErrFailed", i, err, errSync)
		}
	}
	if err := <-pipelinedPut(v, v.path("notes/p3")); !errors.Is(err, errSync) || !errors.Is(err, kv.ErrFailed) {
		t.Fatalf("put after the failed sync: %v, want %v and kv.ErrFailed", err, errSync)
	}
	if err := v.e.Failed(); !errors.Is(err, errSync) || !errors.Is(err, kv.ErrFailed) {
		t.Fatalf("Failed after the failed sync: %v, want %v and kv.ErrFailed", err, errSync)
	}
	// (heldKV's pebble store did sync the writes, so Engine.Records, which reads the log
	// when memory has nothing, and Views would find them: only memory is checked.)
	noEvent(t, watch, "of a batch that failed to sync")
}

// TestPipelineDepth: while a batch is held from becoming durable, the committer applies
// SettleDepth more batches (running each while the earlier ones sync) and then applies no
// other until the held one is settled. It fails with a settler queue one batch deeper.
func TestPipelineDepth(t *testing.T) {
	h, v := newHeldEnv(t)

	h.hold()
	var puts []<-chan error
	for i := range dag.SettleDepth + 1 {
		puts = append(puts, pipelinedPut(v, v.path(fmt.Sprint("notes/p", i))))
		waitApplied(t, h, fmt.Sprintf("batch %d", i))
	}
	puts = append(puts, pipelinedPut(v, v.path("notes/past")))
	select {
	case <-h.applied:
		t.Fatalf("a batch was applied with %d batches awaiting durability (SettleDepth %d)", dag.SettleDepth+1, dag.SettleDepth)
	case <-time.After(100 * time.Millisecond):
	}
	h.release(nil)
	for i, c := range puts {
		if err := <-c; err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
}
