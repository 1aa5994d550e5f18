package gateway_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"

	"github.com/w3dag/w3dag/internal/race"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	chunk "github.com/ipfs/boxo/chunker"
	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/go-cid"
	datastore "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/w3dag/w3dag/gateway"
)

// fileSpec is a UnixFS file to import: its bytes, chunk size, links a node and leaves.
type fileSpec struct {
	data      []byte
	chunk     int64
	maxLinks  int
	rawLeaves bool
}

// serveFiles imports each spec as a UnixFS file, stores them as one CAR (with corrupt,
// when not nil, applied to the stored bytes after indexing) and serves the gateway over
// it. It returns the server's URL and the files' root CIDs.
func serveFiles(t *testing.T, corrupt func(car []byte), specs ...fileSpec) (string, []cid.Cid) {
	t.Helper()
	url, _, roots := serveFilesAndReference(t, corrupt, specs...)
	return url, roots
}

// serveFilesAndReference is serveFiles, also returning the URL of boxo's own gateway
// (boxo's BlocksBackend) over the blocks imported.
func serveFilesAndReference(t *testing.T, corrupt func(car []byte), specs ...fileSpec) (string, string, []cid.Cid) {
	t.Helper()
	bs := blockstore.NewBlockstore(dssync.MutexWrap(datastore.NewMapDatastore()))
	ds := merkledag.NewDAGService(blockservice.New(bs, nil))
	prefix, err := merkledag.PrefixForCidVersion(1)
	if err != nil {
		t.Fatal(err)
	}
	var roots []cid.Cid
	for _, s := range specs {
		db, err := (&helpers.DagBuilderParams{Dagserv: ds, Maxlinks: s.maxLinks, RawLeaves: s.rawLeaves, CidBuilder: prefix}).New(chunk.NewSizeSplitter(bytes.NewReader(s.data), s.chunk))
		if err != nil {
			t.Fatal(err)
		}
		nd, err := balanced.Layout(db)
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, nd.Cid())
	}
	srv, _ := serveBlocks(t, bs, roots, corrupt, gateway.Options{})
	backend, err := boxogw.NewBlocksBackend(blockservice.New(bs, nil))
	if err != nil {
		t.Fatal(err)
	}
	ref := httptest.NewServer(boxogw.NewHandler(boxogw.Config{DeserializedResponses: true, NoDNSLink: true, DisableHTMLErrors: true}, backend))
	t.Cleanup(ref.Close)
	return srv.URL, ref.URL, roots
}

// pattern returns n pseudo-random bytes, the same for the same seed.
func pattern(n, seed int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(seed), 0))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestFileResponses checks that whole-file GETs give the file's bytes, for leaves read into
// the pooled buffers (over CacheMaxBlock) and small ones, raw and dag-pb leaves, shallow
// and deep DAGs, when several files are read at once (the buffers are shared: go test
// -race checks that a buffer is not reused while its bytes are still being sent).
func TestFileResponses(t *testing.T) {
	specs := []fileSpec{
		{data: pattern(3*gateway.LeafBufferSize+12345, 1), chunk: gateway.LeafBufferSize, maxLinks: 2, rawLeaves: true},
		{data: pattern(2*gateway.CacheMaxBlock+gateway.CacheMaxBlock/2, 2), chunk: gateway.CacheMaxBlock + 1, maxLinks: 174, rawLeaves: true},
		{data: pattern(40_000, 3), chunk: 1000, maxLinks: 3, rawLeaves: true},
		{data: pattern(300_000, 4), chunk: 200_000, maxLinks: 3, rawLeaves: false},
		{data: pattern(gateway.LeafBufferSize+1, 5), chunk: gateway.LeafBufferSize + 1, maxLinks: 2, rawLeaves: true},
	}
	url, roots := serveFiles(t, nil, specs...)
	var wg sync.WaitGroup
	for round := range 3 {
		for i, root := range roots {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Get(fmt.Sprintf("%s/ipfs/%s", url, root))
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("round %d, file %d: %d, %v", round, i, resp.StatusCode, err)
					return
				}
				if !bytes.Equal(body, specs[i].data) {
					t.Errorf("round %d, file %d: %d bytes, not the file's %d", round, i, len(body), len(specs[i].data))
				}
				if resp.ContentLength != int64(len(specs[i].data)) {
					t.Errorf("round %d, file %d: Content-Length %d, want %d", round, i, resp.ContentLength, len(specs[i].data))
				}
			}()
		}
	}
	wg.Wait()
}

// TestFileResponseCorrupt checks that a stored leaf whose bytes do not match its CID ends
// the response short (after the status line: it is streamed), never with wrong bytes.
func TestFileResponseCorrupt(t *testing.T) {
	data := pattern(3*gateway.LeafBufferSize, 6)
	// The stored CAR's byte 2 MiB + 1000 lies in one of the leaves (a leaf's bytes are the
	// file's, so find them by content).
	url, roots := serveFiles(t, func(car []byte) {
		at := bytes.Index(car, data[2*gateway.LeafBufferSize:2*gateway.LeafBufferSize+64])
		if at < 0 {
			t.Fatal("the third leaf is not in the CAR")
		}
		car[at+1000] ^= 0xff
	}, fileSpec{data: data, chunk: gateway.LeafBufferSize, maxLinks: 8, rawLeaves: true})
	resp, err := http.Get(fmt.Sprintf("%s/ipfs/%s", url, roots[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("%s: read %d bytes with no error, want the response cut short", resp.Status, len(body))
	}
	if len(body) > 2*gateway.LeafBufferSize || !bytes.Equal(body, data[:len(body)]) {
		t.Errorf("got %d bytes, want at most the first two leaves' %d, equal to the file's", len(body), 2*gateway.LeafBufferSize)
	}
}

// TestFileCARs checks that the CAR of a whole file, which the gateway streams itself, is
// byte for byte the CAR boxo's own gateway writes over the same blocks: with and without
// duplicates (a file of repeated chunks), in every accepted order, for the sizes of
// TestFileResponses. The cases it leaves to boxo (entity-bytes, dag-scope=entity|block)
// still answer.
func TestFileCARs(t *testing.T) {
	specs := []fileSpec{
		{data: pattern(3*gateway.LeafBufferSize+12345, 1), chunk: gateway.LeafBufferSize, maxLinks: 2, rawLeaves: true},
		{data: pattern(40_000, 3), chunk: 1000, maxLinks: 3, rawLeaves: true},
		{data: pattern(300_000, 4), chunk: 200_000, maxLinks: 3, rawLeaves: false},
		{data: make([]byte, 5*gateway.CacheMaxBlock+7), chunk: gateway.CacheMaxBlock + 1, maxLinks: 3, rawLeaves: true},
		{data: make([]byte, 5000), chunk: 1000, maxLinks: 2, rawLeaves: false},
	}
	url, ref, roots := serveFilesAndReference(t, nil, specs...)
	get := func(base, target, accept string) (int, []byte) {
		req, err := http.NewRequest(http.MethodGet, base+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	for i, root := range roots {
		for _, q := range []struct{ target, accept string }{
			{"?format=car", ""},
			{"?format=car&dag-scope=all", ""},
			{"", "application/vnd.ipld.car; version=1; order=dfs; dups=y"},
			{"", "application/vnd.ipld.car; version=1; order=dfs; dups=n"},
			{"", "application/vnd.ipld.car; version=1; order=unk"},
			{"?format=car&dag-scope=entity", ""},
			{"?format=car&dag-scope=block", ""},
			{"?format=car&entity-bytes=1000:-1", ""},
		} {
			target := "/ipfs/" + root.String() + q.target
			wantCode, want := get(ref, target, q.accept)
			code, got := get(url, target, q.accept)
			if code != wantCode || !bytes.Equal(got, want) {
				t.Errorf("file %d, %s %q: %d and %d bytes, boxo's gateway %d and %d bytes", i, target, q.accept, code, len(got), wantCode, len(want))
			}
		}
	}
}

// TestFileResponseStreams checks that the gateway answers a whole file itself, its large
// leaves read into the pooled buffers: once the pool is warm, a GET (and the CAR of it) of
// a file of 16 leaves of LeafBufferSize allocates less than half the file's size. Served
// by boxo, each leaf would become a fresh block (three copies of it for a CAR).
func TestFileResponseStreams(t *testing.T) {
	const leaves = 16
	data := pattern(leaves*gateway.LeafBufferSize, 7)
	url, roots := serveFiles(t, nil, fileSpec{data: data, chunk: gateway.LeafBufferSize, maxLinks: 174, rawLeaves: true})
	for _, target := range []string{"", "?format=car"} {
		get := func() int64 {
			resp, err := http.Get(fmt.Sprintf("%s/ipfs/%s%s", url, roots[0], target))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			n, err := io.Copy(io.Discard, resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%q: %d, %v", target, resp.StatusCode, err)
			}
			return n
		}
		get() // warms the pool
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		n := get()
		runtime.ReadMemStats(&after)
		if n < int64(len(data)) {
			t.Fatalf("%q: %d bytes, want at least the file's %d", target, n, len(data))
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(len(data))/2 && !race.Enabled {
			t.Errorf("%q: %d bytes allocated for a %d-byte file, want under half of it", target, alloc, len(data))
		}
	}
}
