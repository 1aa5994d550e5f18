package dag_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/jackc/pgx/v5"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/bolt"
	"github.com/w3dag/w3dag/kv/pebble"
	"github.com/w3dag/w3dag/kv/postgres"
	"github.com/w3dag/w3dag/ucan"
)

// BenchmarkPutBolt measures engine-level dag/put of small upload-like values on kv/bolt
// with fsync on, 32 concurrent writers. What clients do is done before the timer: their
// invocations are sealed and the values built, so the timed loop is the service's work
// (the engine's, on the writers' goroutines and its committer's).
func BenchmarkPutBolt(b *testing.B) {
	benchPut(b, openBenchBolt, 0)
}

// BenchmarkPutPebble is BenchmarkPutBolt on kv/pebble.
func BenchmarkPutPebble(b *testing.B) {
	benchPut(b, openBenchPebble, 0)
}

// BenchmarkPutPostgres is BenchmarkPutBolt on kv/postgres, in a fresh schema of the database
// at W3DAG_TEST_POSTGRES (skipped when unset), dropped afterwards.
func BenchmarkPutPostgres(b *testing.B) {
	benchPut(b, openBenchPostgres, 0)
}

func openBenchPostgres(b *testing.B) kv.Store {
	url := os.Getenv("W3DAG_TEST_POSTGRES")
	if url == "" {
		b.Skip("W3DAG_TEST_POSTGRES is not set; skipping PostgreSQL benchmarks")
	}
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		b.Fatal(err)
	}
	schema := "bench_" + hex.EncodeToString(r[:])
	st, err := postgres.Open(context.Background(), url, postgres.Options{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			b.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			b.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return st
}

func BenchmarkPutBoltBatch(b *testing.B) {
	for _, n := range []int{4, 8, 16, 32} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchPut(b, openBenchBolt, n) })
	}
}

func openBenchBolt(b *testing.B) kv.Store {
	st, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

func openBenchPebble(b *testing.B) kv.Store {
	st, err := pebble.Open(filepath.Join(b.TempDir(), "bench"), pebble.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

func benchPut(b *testing.B, open func(*testing.B) kv.Store, maxBatch int) {
	st := open(b)
	defer st.Close()
	v := newEnv(b, st, func(o *dag.Options) { o.MaxBatch = maxBatch })
	toks := make([]*ucan.Token, b.N)
	paths := make([]dag.Path, b.N)
	vals := make([]datamodel.Node, b.N)
	shard := carCID("shard")
	for i := range b.N {
		root := rawCID(fmt.Sprint("root", i))
		p := v.path("upload/" + root.String())
		vals[i] = uploadValue(root, shard)
		paths[i] = p
		toks[i] = v.inv(v.agent, v.space, "/dag/put", pathArgs(p, vals[i]))
	}
	putParallel(b, v, toks, paths, func(i int64) datamodel.Node { return vals[i] })
	if st := v.e.Stats(); st.Commits > 0 {
		b.ReportMetric(float64(st.Ops)/float64(st.Commits), "ops/commit")
		b.ReportMetric(float64(st.Run.Microseconds())/float64(st.Ops), "run-µs/op")
		b.ReportMetric(float64((st.Tx-st.Run).Microseconds())/float64(st.Commits), "commit-µs/commit")
	}
}

// putParallel puts toks[i] at paths[i] with value(i) for each of b.N operations, 32
// writers at once, timed, and reports the CPU time of each and how many a second ran.
func putParallel(b *testing.B, v *env, toks []*ucan.Token, paths []dag.Path, value func(i int64) datamodel.Node) {
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(32)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			res, err := v.e.Put(ctx, toks[i], paths[i], value(i))
			if err != nil || res.Err != nil {
				b.Errorf("put: %v %v", err, res.Err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// cpuTime returns the process's user and system CPU time so far: on a shared machine the
// CPU an operation costs varies less than its wall time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
