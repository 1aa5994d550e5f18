package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// writeRandomFile writes size pseudo-random bytes (no two chunks alike) to p.
func writeRandomFile(b *testing.B, p string, size int64, seed uint64) {
	b.Helper()
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.CopyN(w, r, size); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkUp measures `w3dag up FILE --no-wrap` end to end against an in-process service
// on this machine: UnixFS import (a sha2-256 of every chunk), CAR shards of the default
// size spooled to disk with their CAR CID, each stored (put, PUT with the server's CAR
// check and sha2-256, confirm) two at a time, then the upload entry. The file is
// W3DAG_BENCH_SIZE bytes (default 1 GiB); each iteration uses a new service. Compare with
// BenchmarkUpSHA256 of the same run. It also reports the process's CPU time (user +
// system, client and service together) per GiB of file: up-cpu-s/GiB while `up` ran,
// all-cpu-s/GiB until the shards' pieces were computed too (less sensitive to other load
// on the machine than the wall-clock rate):
//
//	go test -run '^$' -bench 'BenchmarkUp(SHA256)?$' -benchtime 3x ./cmd/w3dag
func BenchmarkUp(b *testing.B) {
	size := benchSize(b)
	file := filepath.Join(b.TempDir(), "bench.bin")
	writeRandomFile(b, file, size, 1)
	b.SetBytes(size)
	var upCPU, allCPU time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		svc := newHTTPService(b)
		cfg := b.TempDir()
		b.Setenv("W3DAG_CONFIG", cfg)
		b.Setenv("W3DAG_URL", svc.url)
		if code := run(context.Background(), []string{"space", "new"}, io.Discard, io.Discard); code != 0 {
			b.Fatal("space new failed")
		}
		var out, errb strings.Builder
		cpu0 := cpuTime(b)
		b.StartTimer()
		if code := run(context.Background(), []string{"up", file, "--no-wrap", "--json"}, &out, &errb); code != 0 {
			b.Fatalf("up: %s", errb.String())
		}
		b.StopTimer()
		upCPU += cpuTime(b) - cpu0
		// Pieces of the shards are computed in the background: wait, untimed, so they do
		// not take the CPU from the next iteration.
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if i := strings.Index(line, `"cid":"`); i >= 0 && strings.Contains(line, `"event":"shard"`) {
				c, err := cid.Decode(line[i+7 : i+7+strings.IndexByte(line[i+7:], '"')])
				if err != nil {
					b.Fatal(err)
				}
				waitPiece(b, svc, c)
			}
		}
		allCPU += cpuTime(b) - cpu0
		b.StartTimer()
	}
	gib := float64(b.N) * float64(size) / (1 << 30)
	b.ReportMetric(upCPU.Seconds()/gib, "up-cpu-s/GiB")
	b.ReportMetric(allCPU.Seconds()/gib, "all-cpu-s/GiB")
}

// BenchmarkUpSHA256 is single-core sha2-256 over the bytes of BenchmarkUp's file, read
// from disk in 1 MiB buffers: the ceiling BenchmarkUp is compared with.
func BenchmarkUpSHA256(b *testing.B) {
	size := benchSize(b)
	file := filepath.Join(b.TempDir(), "bench.bin")
	writeRandomFile(b, file, size, 1)
	buf := make([]byte, 1<<20)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Open(file)
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.CopyBuffer(h, f, buf); err != nil {
			b.Fatal(err)
		}
		f.Close()
		h.Sum(nil)
	}
}

// BenchmarkUpFiles measures `w3dag up DIR` of a directory of 10,000 small files (1 KiB
// each; a HAMT-sharded directory) against an in-process service, reporting files/s.
//
//	go test -run '^$' -bench 'BenchmarkUpFiles' -benchtime 3x ./cmd/w3dag
func BenchmarkUpFiles(b *testing.B) {
	const files = 10_000
	dir := filepath.Join(b.TempDir(), "many")
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1024)
	for i := range files {
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d.txt", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		svc := newHTTPService(b)
		b.Setenv("W3DAG_CONFIG", b.TempDir())
		b.Setenv("W3DAG_URL", svc.url)
		if code := run(context.Background(), []string{"space", "new"}, io.Discard, io.Discard); code != 0 {
			b.Fatal("space new failed")
		}
		var errb strings.Builder
		start := time.Now()
		b.StartTimer()
		if code := run(context.Background(), []string{"up", dir}, io.Discard, &errb); code != 0 {
			b.Fatalf("up: %s", errb.String())
		}
		b.StopTimer()
		elapsed += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(files*b.N)/elapsed.Seconds(), "files/s")
}
