package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/w3dag/w3dag/kv/bolt"
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
	// bolt, as serve runs (kv/mem's sorted slice makes 8,000 spaces' writes quadratic).
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "w3dag.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	v := newEnv(t, st, dir, nil, nil)
	c := newCAR(t, "wanted by many")
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
