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

	"github.com/jackc/pgx/v5"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/postgres"
	"github.com/w3dag/w3dag/schema"
)

// pgEngines opens n engines of one service over n separate connections to one fresh
// PostgreSQL schema: n processes of a scaled-out service.
func pgEngines(t *testing.T, n int) (*env, []*dag.Engine) {
	url := os.Getenv("W3DAG_TEST_POSTGRES")
	if url == "" {
		t.Skip("W3DAG_TEST_POSTGRES is not set; skipping PostgreSQL tests")
	}
	var b [6]byte
	rand.Read(b[:])
	sch := "dagtest_" + hex.EncodeToString(b[:])
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
