package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/w3dag/w3dag/archive"
	blobfs "github.com/w3dag/w3dag/blob/fs"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/pebble"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// embeddedServer wires a Server as w3dag serve does on its embedded defaults, over store
// and fs blobs in dir: the notes schema, messages through the engine's group commit into
// the archive's kv outbox (the caller runs or flushes the mover). It returns the server,
// the archive and a space key.
func embeddedServer(tb testing.TB, store kv.Store, dir string) (*Server, *archive.Archive, did.Signer) {
	tb.Helper()
	blobs, err := blobfs.Open(filepath.Join(dir, "blobs"), blobfs.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	service, space := mustKey(tb), mustKey(tb)
	eng, err := dag.Open(context.Background(), dag.Options{KV: store, Signer: service, Schema: schema.MustLoad([]byte(notesSchema))})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { eng.Close() })
	o, err := ops.New(ops.Options{Engine: eng, Signer: service})
	if err != nil {
		tb.Fatal(err)
	}
	arch := archive.New(blobs, archive.Options{Outbox: store, Commit: func(ctx context.Context, fn func(kv.Tx) error) error {
		return eng.Update(ctx, func(t *dag.Tx) error {
			kt, err := t.KV(archive.OutboxPrefix)
			if err != nil {
				return err
			}
			return fn(kt)
		})
	}})
	tb.Cleanup(func() { arch.Close() })
	srv, err := New(Options{Service: service, Runner: o, Store: eng, Archive: arch})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, arch, space
}

// benchServer is the embedded configuration of w3dag serve on a new data folder: pebble
// with fsync, fs blobs.
func benchServer(b *testing.B) (*httptest.Server, func(int) []byte) {
	b.Helper()
	dir := b.TempDir()
	store, err := pebble.Open(filepath.Join(dir, "w3dag.pebble"), pebble.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	srv, arch, space := embeddedServer(b, store, dir)
	// As w3dag serve wires it: messages move to blob storage in the background.
	ctx, cancel := context.WithCancel(context.Background())
	go arch.Run(ctx)
	b.Cleanup(cancel)
	hs := httptest.NewServer(srv)
	b.Cleanup(hs.Close)
	var n atomic.Int64
	msg := func(size int) []byte {
		var invs []*ucan.Token
		for range size {
			k := n.Add(1)
			invs = append(invs, invoke(b, space, space.DID(), "/dag/put", fmt.Sprintf(`{"path": "notes/n%d", "value": {"title": "t"}}`, k)))
		}
		return encode(b, invs)
	}
	return hs, msg
}

func postBench(b *testing.B, hc *http.Client, url string, body []byte) {
	resp, err := hc.Post(url+"/ucan", message.ContentTypeCAR, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	data := readAll(b, resp)
	if resp.StatusCode != 200 {
		b.Fatalf("%d %s", resp.StatusCode, data)
	}
}

// BenchmarkPut100 sends messages of 100 /dag/put invocations, one at a time. Client and
// server share the process: cpu-µs/inv is both sides' CPU.
func BenchmarkPut100(b *testing.B) {
	hs, msg := benchServer(b)
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = msg(100)
	}
	cpu0 := processCPU(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		postBench(b, hs.Client(), hs.URL, bodies[i])
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "inv/s")
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N*100), "cpu-µs/inv")
}

// BenchmarkPut1x32 sends messages of one invocation from 32 concurrent clients.
func BenchmarkPut1x32(b *testing.B) {
	hs, msg := benchServer(b)
	bodies := make(chan []byte, b.N)
	for range b.N {
		bodies <- msg(1)
	}
	close(bodies)
	cpu0 := processCPU(b)
	b.ResetTimer()
	b.SetParallelism(32 / max(1, testingProcs()))
	b.RunParallel(func(pb *testing.PB) {
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		for pb.Next() {
			postBench(b, hc, hs.URL, <-bodies)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inv/s")
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/inv")
}

func testingProcs() int { return runtimeGOMAXPROCS() }
