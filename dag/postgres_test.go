package dag_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/jackc/pgx/v5"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/postgres"
	"github.com/w3dag/w3dag/kv/postgres/postgrestest"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
)

// pgSchema returns the test server's URL and a fresh schema name, dropped when the test
// ends; it skips the test when W3DAG_TEST_POSTGRES is not set.
func pgSchema(t *testing.T) (url, sch string) {
	url = os.Getenv("W3DAG_TEST_POSTGRES")
	if url == "" {
		t.Skip("W3DAG_TEST_POSTGRES is not set; skipping PostgreSQL tests")
	}
	var b [6]byte
	rand.Read(b[:])
	sch = "dagtest_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("dropping schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{sch}.Sanitize()+" CASCADE")
	})
	return url, sch
}

// pgEngines opens n engines of one service over n separate connections to one fresh
// PostgreSQL schema: n processes of a scaled-out service.
func pgEngines(t *testing.T, n int) (*env, []*dag.Engine) {
	url, sch := pgSchema(t)
	ctx := context.Background()
	first, err := postgres.Open(ctx, url, postgres.Options{Schema: sch, SerialWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() })
	v := newEnv(t, first, func(o *dag.Options) { o.WatchPoll = 20 * time.Millisecond })
	engines := []*dag.Engine{v.e}
	s := must(schema.Load([]byte(notesExt)))
	for range n - 1 {
		st, err := postgres.Open(ctx, url, postgres.Options{Schema: sch, SerialWrites: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		e, err := dag.Open(ctx, dag.Options{KV: st, Signer: v.service, Schema: s, Collections: testCollections(), WatchPoll: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		engines = append(engines, e)
	}
	return v, engines
}

func TestPostgresScaleOut(t *testing.T) {
	v, engines := pgEngines(t, 2)
	ctx := context.Background()
	watch := must(engines[0].Watch(ctx, dag.Path{Subject: v.space}, 0))

	// Different values at one path from both processes: one wins.
	p := v.path("notes/contended")
	var wins, exists int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := engines[i%2]
			val := note(fmt.Sprint(i))
			res, err := e.Put(ctx, v.inv(v.agent, v.space, "/dag/put", pathArgs(p, val)), p, val)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("put: %v", err)
			case res.Err == nil:
				wins++
			case errors.Is(res.Err, dag.ErrEntryExists):
				exists++
			default:
				t.Errorf("put: %v", res.Err)
			}
		}()
	}
	// The same task sent to both processes at once runs once.
	dp := v.path("notes/dedup")
	tok := v.inv(v.agent, v.space, "/dag/put", pathArgs(dp, note("d")))
	repeats := make([]bool, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := engines[i].Put(ctx, tok, dp, note("d"))
			if err != nil || res.Err != nil {
				t.Errorf("dedup put: %v %v", err, res)
				return
			}
			repeats[i] = res.Repeat
		}()
	}
	// Distinct keys from both.
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := engines[i%2]
			q := v.path(fmt.Sprint("notes/k", i))
			res, err := e.Put(ctx, v.inv(v.agent, v.space, "/dag/put", pathArgs(q, note("x"))), q, note("x"))
			if err != nil || res.Err != nil {
				t.Errorf("put %s: %v %v", q, err, res)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || exists != 19 {
		t.Fatalf("%d wins, %d EntryExists", wins, exists)
	}
	if repeats[0] == repeats[1] {
		t.Fatalf("same task on two processes: repeats %v", repeats)
	}
	last := must(engines[1].LastSeq(ctx))
	if last != 42 {
		t.Fatalf("last seq %d, want 42", last)
	}
	// The watcher of process 0 sees every commit, including process 1's, in order.
	evs := collect(t, watch, int(last))
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	if n := v.verifyChain(p); n != 1 {
		t.Fatalf("chain %d", n)
	}
}

// maxRoundTripsPerBatch bounds the round trips of one group commit of puts on kv/postgres
// whatever its size: BEGIN, the prefetch of the operations' task results and entries (and
// the commit sequence), the flush of the writes, COMMIT, and a little room.
const maxRoundTripsPerBatch = 6

// TestPostgresPrefetchRoundTrips: a batch of n puts costs a fixed number of round trips,
// the committer reading every operation's task result and entry in one prefetch, where
// each of those Gets was one round trip (2n + 4 before the prefetch: 24 and 204). The
// second batch checks that a put reads an earlier put of the same batch, not what the
// prefetch read before it.
func TestPostgresPrefetchRoundTrips(t *testing.T) {
	for _, n := range []int{10, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			url, sch := pgSchema(t)
			rt := &postgrestest.RoundTrips{}
			st, err := postgres.Open(t.Context(), url, postgres.Options{Schema: sch, Tracer: rt})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			// A batch holds exactly the n puts: the committer waits for it to fill.
			v := newEnv(t, st, func(o *dag.Options) { o.MaxBatch, o.MaxBatchDelay = n, time.Hour })
			// batch puts path(i) = value(i) for i < n in one batch; bounded: checking that it
			// took at most maxRoundTripsPerBatch round trips.
			batch := func(name string, bounded bool, path func(i int) dag.Path, value func(i int) datamodel.Node) []*dag.Result {
				t.Helper()
				toks := make([]*ucan.Token, n)
				for i := range n {
					toks[i] = v.inv(v.agent, v.space, "/dag/put", pathArgs(path(i), value(i)))
				}
				commits, trips := v.e.Stats().Commits, rt.Load()
				res := make([]*dag.Result, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						r, err := v.e.Put(t.Context(), toks[i], path(i), value(i))
						if err != nil || r.Err != nil {
							t.Errorf("%s: put %s: %v %v", name, path(i), err, r)
						}
						res[i] = r
					})
				}
				wg.Wait()
				commits, trips = v.e.Stats().Commits-commits, rt.Load()-trips
				t.Logf("%s: %d puts in %d commits: %d round trips", name, n, commits, trips)
				if commits != 1 {
					t.Fatalf("%s: %d puts in %d commits, want 1", name, n, commits)
				}
				if bounded && trips > maxRoundTripsPerBatch {
					t.Fatalf("%s: a batch of %d puts took %d round trips, want at most %d", name, n, trips, maxRoundTripsPerBatch)
				}
				return res
			}
			path := func(i int) dag.Path { return v.path(fmt.Sprint("notes/n", i)) }
			value := func(i int) datamodel.Node { return note(fmt.Sprint("note ", i)) }
			first := batch("new entries", true, path, value)
			// Half the batch puts twice to each of n/4 new entries, the same value: the
			// second put of a pair finds the first's entry, not the absence the prefetch
			// read, and changes nothing. The other half puts existing entries' values
			// again: found by the prefetch, unchanged (each reads its head receipt, one more
			// round trip, so the batch is not bounded).
			pair := func(i int) dag.Path { return v.path(fmt.Sprint("notes/pair", i/2)) }
			res := batch("pairs and repeats", false, func(i int) dag.Path {
				if i < n/2 {
					return pair(i)
				}
				return path(i)
			}, func(i int) datamodel.Node {
				if i < n/2 {
					return note(fmt.Sprint("pair ", i/2))
				}
				return value(i)
			})
			for i := range n {
				r := res[i]
				if r == nil || r.Entry == nil {
					t.Fatalf("put %d: no entry", i)
				}
				switch {
				case i >= n/2:
					if r.Entry.Head != first[i].Entry.Head {
						t.Fatalf("put %d of %s again: head %s, want the unchanged %s", i, path(i), r.Entry.Head, first[i].Entry.Head)
					}
				case i%2 == 1:
					if r.Entry.Head != res[i-1].Entry.Head {
						t.Fatalf("puts %d and %d of one value to %s: heads %s and %s, want one", i-1, i, pair(i), res[i-1].Entry.Head, r.Entry.Head)
					}
					if got := v.verifyChain(pair(i)); got != 1 {
						t.Fatalf("chain of %s: %d receipts, want 1", pair(i), got)
					}
				}
			}
		})
	}
}
