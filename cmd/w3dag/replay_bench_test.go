package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// replayBenchInvocations is how many dag/put invocations BenchmarkReplay's archive holds
// (W3DAG_BENCH_REPLAY_N overrides it).
const replayBenchInvocations = 20000

// BenchmarkReplay measures `w3dag replay` into an empty store, pebble (the default) and
// bolt: a service on bolt runs N dag/put invocations (messages of 10, from 8 clients at
// once, over 4 spaces), then each iteration replays the archive into a new folder and
// reports invocations/s over the whole command (reading the archive included) and the CPU
// time it used per invocation (what the rate would be on idle cores: GOMAXPROCS / CPU per
// invocation).
//
//	go test ./cmd/w3dag -run '^$' -bench BenchmarkReplay -benchtime 3x
func BenchmarkReplay(b *testing.B) {
	n := replayBenchInvocations
	if v := os.Getenv("W3DAG_BENCH_REPLAY_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	schemaFile := filepath.Join(b.TempDir(), "notes.ipldsch")
	if err := os.WriteFile(schemaFile, []byte(notesExtension), 0o644); err != nil {
		b.Fatal(err)
	}
	live := b.TempDir()
	l := startLive(b, live, "--kv", "bolt", "--schema", schemaFile)
	spaces := make([]did.Signer, 4)
	for i := range spaces {
		spaces[i] = machinestest.Signer(b)
	}
	const perMessage, clients = 10, 8
	liveCPU0 := cpuTime(b)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := c; m*perMessage < n; m += clients {
				sp := spaces[m%len(spaces)]
				invs := make([]*ucan.Token, 0, perMessage)
				for k := range perMessage {
					invs = append(invs, invoke(b, sp, sp.DID(), "/dag/put", fmt.Sprintf(`{"path": "notes/m%d-%d", "value": {"title": "t%d"}}`, m, k, k)))
				}
				if code := post(b, l.url, invs...); code != http.StatusOK {
					b.Errorf("POST /ucan: %d", code)
					return
				}
			}
		}()
	}
	wg.Wait()
	liveCPU := cpuTime(b) - liveCPU0
	l.stop()
	flushArchive(b, live)
	common := []string{"--archive", filepath.Join(live, blobsDir), "--public-url", l.url, "--schema", schemaFile}
	for _, kind := range []string{"pebble", "bolt"} {
		b.Run(kind, func(b *testing.B) {
			benchReplay(b, live, n, liveCPU, append([]string{"--kv", kind}, common...))
		})
	}
}

// benchReplay replays the archive of live (n invocations, served with liveCPU) with args
// into a new folder each iteration.
func benchReplay(b *testing.B, live string, n int, liveCPU time.Duration, args []string) {
	for b.Loop() {
		b.StopTimer()
		dir := rebuildFolder(b, live)
		b.StartTimer()
		start := time.Now()
		cpu0 := cpuTime(b)
		if prof := os.Getenv("W3DAG_BENCH_REPLAY_PROF"); prof != "" {
			// A CPU profile of the replays alone (not of the workload that made the archive).
			f, err := os.Create(prof)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
		var out bytes.Buffer
		code := runReplay(context.Background(), append([]string{"--data", dir}, args...), &out, io.Discard)
		took := time.Since(start)
		cpu := cpuTime(b) - cpu0
		if code != 0 {
			b.Fatalf("replay exit %d", code)
		}
		b.ReportMetric(float64(n)/took.Seconds(), "invocations/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/invocation")
		// The same workload served (service and in-process clients together), for scale.
		b.ReportMetric(float64(liveCPU.Microseconds())/float64(n), "serve-cpu-µs/invocation")
		b.Log(strings.TrimSpace(out.String()))
	}
}

// cpuTime is the CPU time (user + system) the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
