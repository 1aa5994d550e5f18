package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/kv/bolt"
	"github.com/w3dag/w3dag/message"
)

// 8,000 pending entries of one CID (in 8,000 spaces) are delivered in batches the engine
// group-commits, not one transaction after another (which took more than DeliverTimeout
// and failed the upload).
func TestDeliverManyPending(t *testing.T) {
	if testing.Short() {
		t.Skip("8,000 entries")
	}
	const pending = 8000
	ctx := context.Background()
	v := boltEnv(t)
	c := newCAR(t, "wanted by many")
	putPending(t, v, c, pending)
	start := time.Now()
	before := v.e.Stats().Commits
	ds, err := v.b.Deliver(ctx, c.cid, int64(len(c.data)))
	if err != nil || len(ds) != pending {
		t.Fatalf("Deliver: %d deliveries, %v; want %d", len(ds), err, pending)
	}
	commits := v.e.Stats().Commits - before
	// 16 batches of 512; a batch may take a few group commits, never one per entry.
	if limit := uint64(pending / DeliverBatch * 8); commits > limit {
		t.Errorf("%d deliveries took %d commits, want at most %d", pending, commits, limit)
	}
	for _, d := range ds {
		wantStatus(t, d.Result, StatusDone)
	}
	t.Logf("%d deliveries in %d commits, %s", pending, commits, time.Since(start))
}

// putPending puts n pending store entries of c, in n new spaces, concurrently.
func putPending(t *testing.T, v *env, c car, pending int) {
	t.Helper()
	ctx := context.Background()
	spaces := make(chan int, pending)
	for i := range pending {
		spaces <- i
	}
	close(spaces)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range spaces {
				s := newSpace(t)
				p := storePath(s, c.cid)
				value := storeValue(c.cid, int64(len(c.data)))
				res, err := v.e.Put(ctx, v.op(s, "/dag/put", p, value), p, value)
				if err == nil && res.Err != nil {
					err = res.Err
				}
				if err != nil {
					mu.Lock()
					failed = fmt.Errorf("put %s: %w", p, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
}

// boltEnv is newEnv over bolt without fsync, as serve runs (kv/mem's sorted slice makes
// thousands of spaces' writes quadratic).
func boltEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "w3dag.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnv(t, st, dir, nil, nil)
}

// Bytes that are the CID's but not a CAR fail every pending entry, in batches the engine
// group-commits, as deliveries are.
func TestRejectManyPending(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 entries")
	}
	const pending = 2000
	v := boltEnv(t)
	indexed(v)
	data := []byte("# a README, not a CAR\n")
	c := car{data: data, cid: message.CID(data)}
	putPending(t, v, c, pending)
	s := newSpace(t)
	res := v.put(s, c, int64(len(data)))
	before := v.e.Stats().Commits
	if err := v.upload(res.Entry.State, c.cid, data); !carscan.Invalid(err) {
		t.Fatalf("upload of a non-CAR: %v", err)
	}
	commits := v.e.Stats().Commits - before
	if limit := uint64((pending/DeliverBatch + 1) * 8); commits > limit {
		t.Errorf("%d rejections took %d commits, want at most %d", pending+1, commits, limit)
	}
	if st := v.entry(s, c).Status; st != StatusFailed {
		t.Fatalf("entry after a non-CAR upload: %s", st)
	}
	t.Logf("%d rejections in %d commits", pending+1, commits)
}
