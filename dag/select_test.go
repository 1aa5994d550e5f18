package dag_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
)

func TestSelect10000(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 10,000 entries")
	}
	v := newEnv(t, nil)
	const n = 10000
	// Concurrent puts, so group commit batches them; insertion order is commit order.
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				v.put(v.path(fmt.Sprintf("notes/k%05d", i)), note(fmt.Sprint(i)))
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	rng := rand.New(rand.NewPCG(1, 2))
	removed := map[string]bool{}
	for range n / 5 {
		k := fmt.Sprintf("k%05d", rng.IntN(n))
		if !removed[k] {
			removed[k] = true
			v.remove(v.path("notes/" + k))
		}
	}
	// Re-put some removed entries: they move to the end.
	var moved []string
	for k := range removed {
		if len(moved) == 50 {
			break
		}
		moved = append(moved, k)
		delete(removed, k)
		v.put(v.path("notes/"+k), note("again"))
	}
	live := n - len(removed)

	for _, limit := range []int{0, 1, 7, 100, 1000} {
		seen := map[string]bool{}
		var last uint64
		var order []string
		cursor := ""
		pages := 0
		for {
			res := v.sel(v.path("notes"), dag.Query{Limit: limit, Cursor: cursor})
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			pages++
			want := limit
			if want == 0 {
				want = dag.DefaultSelectLimit
			}
			page := res.Page
			if page.Cursor != "" && len(page.Entries) != want {
				t.Fatalf("limit %d: short page of %d with a cursor", limit, len(page.Entries))
			}
			for _, e := range page.Entries {
				if seen[e.Path.Key] {
					t.Fatalf("limit %d: %s twice", limit, e.Path.Key)
				}
				if removed[e.Path.Key] || e.Status != "done" {
					t.Fatalf("limit %d: removed entry %s listed", limit, e.Path.Key)
				}
				if e.Order <= last {
					t.Fatalf("limit %d: not in insertion order", limit)
				}
				last = e.Order
				seen[e.Path.Key] = true
				order = append(order, e.Path.Key)
			}
			if page.Cursor == "" {
				break
			}
			cursor = page.Cursor
		}
		if len(seen) != live {
			t.Fatalf("limit %d: %d entries seen, %d live", limit, len(seen), live)
		}
		tail := order[len(order)-len(moved):]
		for i, k := range moved {
			if tail[i] != k {
				t.Fatalf("re-put entries must be last in order: %v vs %v", tail, moved)
			}
		}
		if limit == 1000 && pages != (live+999)/1000 {
			t.Fatalf("%d pages", pages)
		}
	}
	// Status filter: only removed ones.
	got := 0
	cursor := ""
	for {
		res := v.sel(v.path("notes"), dag.Query{Limit: 1000, Cursor: cursor, Status: "removed"})
		for _, e := range res.Page.Entries {
			if !removed[e.Path.Key] {
				t.Fatalf("%s is not removed", e.Path.Key)
			}
			got++
		}
		if cursor = res.Page.Cursor; cursor == "" {
			break
		}
	}
	if got != len(removed) {
		t.Fatalf("%d removed listed, want %d", got, len(removed))
	}
}

func TestSelectQueryErrors(t *testing.T) {
	v := newEnv(t, nil)
	v.put(v.path("notes/a"), note("a"))
	for _, tc := range []struct {
		path string
		q    dag.Query
		want *dag.Error
	}{
		{"notes", dag.Query{Limit: dag.MaxSelectLimit + 1}, dag.ErrInvalidQuery},
		{"notes", dag.Query{Limit: -1}, dag.ErrInvalidQuery},
		{"notes", dag.Query{Cursor: "garbage"}, dag.ErrInvalidQuery},
		{"notes", dag.Query{Status: "bogus"}, dag.ErrInvalidQuery},
		{"notes/a", dag.Query{}, dag.ErrInvalidPath},
		{"nope", dag.Query{}, dag.ErrUnknownCollection},
	} {
		res := v.sel(v.path(tc.path), tc.q)
		if !errors.Is(res.Err, tc.want) || res.Out.Err == nil {
			t.Errorf("%s %+v: got %v, want %s", tc.path, tc.q, res.Err, tc.want.Name)
		}
	}
}

// TestSelectPageBlock: the receipt links the page block, which decodes to the entries.
func TestSelectPageBlock(t *testing.T) {
	v := newEnv(t, nil)
	for i := range 3 {
		v.put(v.path(fmt.Sprint("notes/n", i)), note(fmt.Sprint(i)))
	}
	res := v.sel(v.path("notes"), dag.Query{Limit: 2})
	if len(res.Blocks) != 1 {
		t.Fatalf("%d blocks", len(res.Blocks))
	}
	blk := res.Blocks[0]
	link := must(must(res.Out.Ok.LookupByString("page")).AsLink())
	if link.String() != blk.CID.String() {
		t.Fatal("page link is not the page block")
	}
	if c := must(must(res.Out.Ok.LookupByString("cursor")).AsString()); c != res.Page.Cursor || c == "" {
		t.Fatal("cursor")
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytesReader(blk.Raw)); err != nil {
		t.Fatal(err)
	}
	// Canonical: re-encoding gives the same bytes.
	if enc := encodeCBOR(t, nb.Build()); string(enc) != string(blk.Raw) {
		t.Fatal("page block is not canonical DAG-CBOR")
	}
	entries := must(nb.Build().LookupByString("entries"))
	if entries.Length() != 2 {
		t.Fatalf("%d entries in block", entries.Length())
	}
	first := must(entries.LookupByIndex(0))
	if k := must(must(first.LookupByString("key")).AsString()); k != "n0" {
		t.Fatalf("key %q", k)
	}
	st := must(first.LookupByString("state"))
	if !datamodel.DeepEqual(st, res.Page.Entries[0].State) {
		t.Fatal("state in block differs")
	}
	_ = context.Background
}
