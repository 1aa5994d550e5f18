package logs_test

import (
	"context"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/w3dag/w3dag/archive/logs"
	blobmem "github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/pebble"
	"github.com/w3dag/w3dag/machines/machinestest"
)

// BenchmarkExport measures the exporter's cost per commit-log record (ns/record wall,
// cpu-µs/record of the process, which runs nothing else meanwhile) on pebble (serve's
// default): a workload of stores and removals, exported from scratch each round. memory:
// the records as the engine hands them over after committing them (Engine.Records, every
// record in its ring), as serve's exporter reads them; log: every record read from the
// log and its blocks and indexes from kv, as after a restart; chunk1024: as memory, in
// chunks of 1,024 records (a second of serve's commits under load, about), so that the
// files of most chunks start with the bodies of the chunk before.
func BenchmarkExport(b *testing.B) {
	ctx := context.Background()
	st, err := pebble.Open(b.TempDir(), pebble.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	w := &world{t: b, clk: &clock{now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}, rng: rand.New(rand.NewPCG(1, 2))}
	w.v = machinestest.Open(b, st, nil, nil, w.clk.Now)
	for range 3 {
		w.spaces = append(w.spaces, machinestest.Signer(b))
	}
	w.run(1400) // about 7,600 records: within the engine's ring (dag.DefaultWatchRing)
	last, err := w.v.E.LastSeq(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if last > dag.DefaultWatchRing {
		b.Fatalf("%d records, more than the ring holds", last)
	}
	b.Run("memory", func(b *testing.B) { benchmarkExport(b, w, w.v.E, last, 0) })
	b.Run("log", func(b *testing.B) { benchmarkExport(b, w, logSource{w.v.E}, last, 0) })
	b.Run("chunk1024", func(b *testing.B) { benchmarkExport(b, w, w.v.E, last, 1024) })
}

func benchmarkExport(b *testing.B, w *world, src logs.Source, last uint64, chunk int) {
	ctx := context.Background()
	var records int
	var elapsed, cpu time.Duration
	for b.Loop() {
		// Start over: a fresh position (and ran set) in kv.
		err := w.v.KV.Update(ctx, func(kt kv.Tx) error {
			var keys [][]byte
			err := kt.Scan(kv.ScanOptions{Start: []byte(logs.Prefix), End: kv.PrefixEnd([]byte(logs.Prefix))}, func(k, _ []byte) error {
				keys = append(keys, append([]byte(nil), k...))
				return nil
			})
			for _, k := range keys {
				if err == nil {
					err = kt.Delete(k)
				}
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		x, err := logs.New(logs.Options{Source: src, KV: w.v.KV, Blobs: blobmem.New(), Chunk: chunk})
		if err != nil {
			b.Fatal(err)
		}
		t0, c0 := time.Now(), cpuTime(b)
		s, err := x.Export(ctx)
		if err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(t0)
		cpu += cpuTime(b) - c0
		if s.Records != int(last) {
			b.Fatalf("exported %d of %d records", s.Records, last)
		}
		records += s.Records
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(records), "ns/record")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(records)/1e3, "cpu-µs/record")
	b.ReportMetric(float64(last), "records/round")
}

// cpuTime returns the process's user and system CPU time so far: on a shared machine the
// CPU a record costs varies less than its wall time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
