package dag

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
)

// prefetchStore is a kv.Store whose transactions are kv.Prefetchers over another store's:
// Prefetch only notes the keys, and Get counts the reads of keys the transaction had not
// prefetched (misses), each of which would be a round trip on kv/postgres.
type prefetchStore struct {
	kv.Store
	mu     sync.Mutex
	misses []string
}

func (s *prefetchStore) Update(ctx context.Context, fn func(kv.Tx) error) error {
	return s.Store.Update(ctx, func(kt kv.Tx) error {
		return fn(&prefetchTx{Tx: kt, s: s, fetched: map[string]bool{}})
	})
}

type prefetchTx struct {
	kv.Tx
	s       *prefetchStore
	fetched map[string]bool
}

func (t *prefetchTx) Prefetch(keys [][]byte) error {
	for _, k := range keys {
		t.fetched[string(k)] = true
	}
	return nil
}

func (t *prefetchTx) Get(key []byte) ([]byte, error) {
	if !t.fetched[string(key)] {
		t.s.mu.Lock()
		t.s.misses = append(t.s.misses, string(key))
		t.s.mu.Unlock()
	}
	return t.Tx.Get(key)
}

// TestPrefetchJoined checks that the committer prefetches the reads of the operations that
// join a running batch too: n puts queued while an Update without reads runs join its
// transaction, and none of their task-result, entry or sequence reads misses the prefetch
// (without the prefetch on join, each put missed two, and the sequence one).
func TestPrefetchJoined(t *testing.T) {
	const n = 8
	sch := notesSchema(t)
	st := &prefetchStore{Store: mem.New()}
	e, err := Open(context.Background(), Options{KV: st, Signer: fixtureSigner(t, 1), Schema: sch})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	st.mu.Lock()
	st.misses = nil // Open's own reads
	st.mu.Unlock()

	release, first := holdCommitter(e, func(*Tx) error { return nil })
	space := fixtureSigner(t, 2).DID()
	errs := make(chan error, n)
	for i := range n {
		p := Path{Subject: space, Collection: "notes", Key: fmt.Sprint("k", i)}
		value := must(qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "title", qp.String(fmt.Sprint("note ", i)))
		}))
		inv, err := e.Invoke("/dag/put", must(qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "path", qp.String(p.String()))
		})))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			res, err := e.Put(ctx, inv, p, value)
			if err == nil && res.Err != nil {
				err = res.Err
			}
			errs <- err
		}()
	}
	waitQueued(t, e, n)
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if s := e.Stats(); s.Commits != 1 || s.Ops != n+1 {
		t.Fatalf("%d commits of %d operations, want 1 of %d", s.Commits, s.Ops, n+1)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var missed []string
	for _, k := range st.misses {
		if strings.HasPrefix(k, prefixTask) || strings.HasPrefix(k, prefixEntry) || k == keySeq {
			missed = append(missed, k)
		}
	}
	if len(missed) > 0 {
		t.Fatalf("%d reads of %d joined puts missed the prefetch: %q", len(missed), n, missed)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
