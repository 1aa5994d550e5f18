package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	chunk "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	datastore "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/gateway"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/blockindex"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan/did"
)

// content is a UnixFS file and a directory holding it, stored as one CAR and indexed.
type content struct {
	file, dir cid.Cid
	data      []byte
	blocks    int // blocks of the file
	srv       *httptest.Server
}

const chunkSize = 1024

func setup(t *testing.T, opts ...gateway.Options) *content {
	t.Helper()
	ctx := context.Background()
	bs := blockstore.NewBlockstore(dssync.MutexWrap(datastore.NewMapDatastore()))
	ds := merkledag.NewDAGService(blockservice.New(bs, nil))
	data := make([]byte, 10*chunkSize+17)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	prefix, err := merkledag.PrefixForCidVersion(1)
	if err != nil {
		t.Fatal(err)
	}
	db, err := (&helpers.DagBuilderParams{Dagserv: ds, Maxlinks: 4, RawLeaves: true, CidBuilder: prefix}).New(chunk.NewSizeSplitter(bytes.NewReader(data), chunkSize))
	if err != nil {
		t.Fatal(err)
	}
	file, err := balanced.Layout(db)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := uio.NewDirectory(ds, uio.WithCidBuilder(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.AddChild(ctx, "héllo.txt", file); err != nil {
		t.Fatal(err)
	}
	dn, err := dir.GetNode()
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.Add(ctx, dn); err != nil {
		t.Fatal(err)
	}
	var o gateway.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	srv, n := serveBlocks(t, bs, []cid.Cid{dn.Cid()}, nil, o)
	return &content{file: file.Cid(), dir: dn.Cid(), data: data, blocks: n - 1, srv: srv}
}

// serveBlocks stores every block of bs as one CAR naming roots (with corrupt, when not
// nil, applied to the stored bytes after indexing), indexes it and serves the gateway
// over it. It returns the server and the number of blocks stored.
func serveBlocks(t *testing.T, bs blockstore.Blockstore, roots []cid.Cid, corrupt func(car []byte), opts gateway.Options) (*httptest.Server, int) {
	t.Helper()
	return serveBlocksFrom(t, bs, roots, corrupt, opts, nil)
}

// serveBlocksFrom is serveBlocks with the gateway reading the blob store through wrap,
// when not nil.
func serveBlocksFrom(t *testing.T, bs blockstore.Blockstore, roots []cid.Cid, corrupt func(car []byte), opts gateway.Options, wrap func(blob.Store) blob.Store) (*httptest.Server, int) {
	t.Helper()
	ctx := context.Background()
	keys, err := bs.AllKeysChan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []message.Block
	for k := range keys {
		b, err := bs.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, message.Block{CID: b.Cid(), Data: b.RawData()})
	}
	car, err := message.EncodeCAR(roots, blocks)
	if err != nil {
		t.Fatal(err)
	}
	carCID := message.CID(car)
	res, err := carscan.Scan(bytes.NewReader(car))
	if err != nil {
		t.Fatal(err)
	}
	if corrupt != nil {
		corrupt(car)
	}
	svc, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	e, err := dag.Open(ctx, dag.Options{KV: kvmem.New(), Signer: svc, Schema: schema.MustLoad()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	store := mem.New()
	if err := store.Put(ctx, carwhere.BlobKey(carCID), bytes.NewReader(car), blob.PutOptions{Size: int64(len(car))}); err != nil {
		t.Fatal(err)
	}
	idx := blockindex.New()
	idx.Stage(carCID, res)
	if err := e.Update(ctx, func(tx *dag.Tx) error { _, err := idx.Done(tx, carCID); return err }); err != nil {
		t.Fatal(err)
	}
	var served blob.Store = store
	if wrap != nil {
		served = wrap(store)
	}
	h, err := gateway.New(e, served, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, len(blocks)
}

// wantNotFound checks a 404 body is text naming the missing segment, not a CAR.
func wantNotFound(segment string) func(t *testing.T, resp *http.Response, body []byte) {
	return func(t *testing.T, resp *http.Response, body []byte) {
		t.Helper()
		if ct := resp.Header.Get("Content-Type"); strings.Contains(ct, "car") {
			t.Errorf("404 with Content-Type %q", ct)
		}
		if !strings.Contains(string(body), segment) {
			t.Errorf("404 body %q does not name %q", body, segment)
		}
	}
}

// carBlocks scans a CAR body and returns its roots and block count.
func carBlocks(t *testing.T, body []byte) ([]cid.Cid, int) {
	t.Helper()
	res, err := carscan.Scan(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the response is not a valid CAR: %v", err)
	}
	return res.Roots, len(res.Blocks)
}

func TestGateway(t *testing.T) {
	c := setup(t)
	fileBlocks := c.blocks
	unknown := message.NewBlock(message.CodecRaw, []byte("never stored")).CID
	tests := []struct {
		name, method, path string
		header             map[string]string
		status             int
		check              func(t *testing.T, resp *http.Response, body []byte)
	}{
		{"raw block by format", "GET", "/ipfs/" + c.file.String() + "?format=raw", nil, 200, func(t *testing.T, resp *http.Response, body []byte) {
			if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.ipld.raw" {
				t.Errorf("Content-Type %q", ct)
			}
			if sum, _ := c.file.Prefix().Sum(body); !sum.Equals(c.file) {
				t.Errorf("the body is not the block %s", c.file)
			}
		}},
		{"raw block by Accept", "GET", "/ipfs/" + c.file.String(), map[string]string{"Accept": "application/vnd.ipld.raw"}, 200, func(t *testing.T, resp *http.Response, body []byte) {
			if sum, _ := c.file.Prefix().Sum(body); !sum.Equals(c.file) {
				t.Errorf("the body is not the block %s", c.file)
			}
		}},
		{"CAR of the file (dag-scope=all)", "GET", "/ipfs/" + c.file.String() + "?format=car", nil, 200, func(t *testing.T, resp *http.Response, body []byte) {
			roots, n := carBlocks(t, body)
			if len(roots) != 1 || roots[0] != c.file || n != fileBlocks {
				t.Errorf("roots %v, %d blocks, want %s and %d", roots, n, c.file, fileBlocks)
			}
		}},
		{"CAR by Accept with order=dfs and dups=y", "GET", "/ipfs/" + c.file.String(), map[string]string{"Accept": "application/vnd.ipld.car; version=1; order=dfs; dups=y"}, 200, func(t *testing.T, resp *http.Response, body []byte) {
			ct := resp.Header.Get("Content-Type")
			if !strings.Contains(ct, "order=dfs") || !strings.Contains(ct, "dups=y") {
				t.Errorf("Content-Type %q", ct)
			}
			if _, n := carBlocks(t, body); n != fileBlocks {
				t.Errorf("%d blocks, want %d", n, fileBlocks)
			}
		}},
		{"dag-scope=block", "GET", "/ipfs/" + c.file.String() + "?format=car&dag-scope=block", nil, 200, func(t *testing.T, resp *http.Response, body []byte) {
			if _, n := carBlocks(t, body); n != 1 {
				t.Errorf("%d blocks, want 1", n)
			}
		}},
		{"dag-scope=entity of a file", "GET", "/ipfs/" + c.file.String() + "?format=car&dag-scope=entity", nil, 200, func(t *testing.T, resp *http.Response, body []byte) {
			if _, n := carBlocks(t, body); n != fileBlocks {
				t.Errorf("%d blocks, want %d", n, fileBlocks)
			}
		}},
		{"dag-scope=entity of a directory", "GET", "/ipfs/" + c.dir.String() + "?format=car&dag-scope=entity", nil, 200, func(t *testing.T, resp *http.Response, body []byte) {
			if _, n := carBlocks(t, body); n != 1 {
				t.Errorf("%d blocks, want the directory's 1", n)
			}
		}},
		{"dag-scope=all through a path", "GET", "/ipfs/" + c.dir.String() + "/h%C3%A9llo.txt?format=car", nil, 200, func(t *testing.T, resp *http.Response, body []byte) {
			if _, n := carBlocks(t, body); n != fileBlocks+1 {
				t.Errorf("%d blocks, want the path's and the file's %d", n, fileBlocks+1)
			}
		}},
		{"entity-bytes from the start", "GET", "/ipfs/" + c.file.String() + "?format=car&dag-scope=entity&entity-bytes=0:99", nil, 200, func(t *testing.T, resp *http.Response, body []byte) {
			if _, n := carBlocks(t, body); n >= fileBlocks || n < 2 {
				t.Errorf("%d blocks, want the root path and the first leaf only (of %d)", n, fileBlocks)
			}
		}},
		{"entity-bytes negative start, open end", "GET", "/ipfs/" + c.file.String() + "?format=car&dag-scope=entity&entity-bytes=-100:*", nil, 200, func(t *testing.T, resp *http.Response, body []byte) {
			if _, n := carBlocks(t, body); n >= fileBlocks || n < 2 {
				t.Errorf("%d blocks, want the path to the last leaf only (of %d)", n, fileBlocks)
			}
		}},
		{"entity-bytes whole file", "GET", "/ipfs/" + c.file.String() + "?format=car&dag-scope=entity&entity-bytes=0:*", nil, 200, func(t *testing.T, resp *http.Response, body []byte) {
			if _, n := carBlocks(t, body); n != fileBlocks {
				t.Errorf("%d blocks, want %d", n, fileBlocks)
			}
		}},
		{"entity-bytes malformed", "GET", "/ipfs/" + c.file.String() + "?format=car&dag-scope=entity&entity-bytes=x:y", nil, 400, nil},
		{"deserialized file", "GET", "/ipfs/" + c.file.String(), nil, 200, func(t *testing.T, resp *http.Response, body []byte) {
			if !bytes.Equal(body, c.data) {
				t.Errorf("%d bytes, not the file's %d", len(body), len(c.data))
			}
			if resp.Header.Get("Content-Type") == "" || resp.Header.Get("Etag") == "" {
				t.Errorf("headers %v", resp.Header)
			}
		}},
		{"deserialized file by name", "GET", "/ipfs/" + c.dir.String() + "/h%C3%A9llo.txt", nil, 200, func(t *testing.T, resp *http.Response, body []byte) {
			if !bytes.Equal(body, c.data) {
				t.Errorf("%d bytes, not the file's", len(body))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q", ct)
			}
		}},
		{"Range", "GET", "/ipfs/" + c.file.String(), map[string]string{"Range": "bytes=1020-1029"}, 206, func(t *testing.T, resp *http.Response, body []byte) {
			if !bytes.Equal(body, c.data[1020:1030]) {
				t.Errorf("range body %q", body)
			}
		}},
		{"HEAD", "HEAD", "/ipfs/" + c.file.String(), nil, 200, func(t *testing.T, resp *http.Response, body []byte) {
			if len(body) != 0 {
				t.Errorf("HEAD body of %d bytes", len(body))
			}
		}},
		{"HEAD raw", "HEAD", "/ipfs/" + c.file.String() + "?format=raw", nil, 200, nil},
		{"directory listing", "GET", "/ipfs/" + c.dir.String() + "/", nil, 200, func(t *testing.T, resp *http.Response, body []byte) {
			if !strings.Contains(string(body), "héllo.txt") {
				t.Errorf("the listing does not name the file: %.300s", body)
			}
		}},
		{"missing path", "GET", "/ipfs/" + c.dir.String() + "/nope.txt", nil, 404, nil},
		// A CAR of a path that does not resolve is 404 before any byte (boxo answers 200
		// with the blocks it walked and an empty identity root).
		{"missing path, CAR", "GET", "/ipfs/" + c.dir.String() + "/nope.txt?format=car", nil, 404, wantNotFound("nope.txt")},
		{"missing path, CAR by Accept", "GET", "/ipfs/" + c.dir.String() + "/nope.txt", map[string]string{"Accept": "application/vnd.ipld.car; version=1"}, 404, wantNotFound("nope.txt")},
		// Whatever makes boxo answer with a CAR (an unknown ?format is ignored, the first
		// vendor type of any Accept line decides, weights are not weighed), the CAR of a
		// missing path is 404.
		{"missing path, unknown format, CAR by Accept", "GET", "/ipfs/" + c.dir.String() + "/nope.txt?format=nonsense", map[string]string{"Accept": "application/vnd.ipld.car"}, 404, wantNotFound("nope.txt")},
		{"missing path, CAR on a second Accept line", "GET", "/ipfs/" + c.dir.String() + "/nope.txt", map[string]string{"Accept": "text/html\napplication/vnd.ipld.car"}, 404, wantNotFound("nope.txt")},
		{"missing path, CAR after a weighted generic type", "GET", "/ipfs/" + c.dir.String() + "/nope.txt", map[string]string{"Accept": "text/html;q=0.9, application/vnd.ipld.car;q=0.1"}, 404, wantNotFound("nope.txt")},
		{"missing path, CAR, dag-scope=block", "GET", "/ipfs/" + c.dir.String() + "/nope.txt?format=car&dag-scope=block", nil, 404, wantNotFound("nope.txt")},
		{"missing path, CAR, HEAD", "HEAD", "/ipfs/" + c.dir.String() + "/nope.txt?format=car", nil, 404, nil},
		{"path below a file, CAR", "GET", "/ipfs/" + c.dir.String() + "/h%C3%A9llo.txt/deeper?format=car", nil, 404, wantNotFound("deeper")},
		{"path below a raw file, CAR", "GET", "/ipfs/" + c.file.String() + "/x?format=car", nil, 404, nil},
		{"missing path, raw", "GET", "/ipfs/" + c.dir.String() + "/nope.txt?format=raw", nil, 404, nil},
		{"unknown CID", "GET", "/ipfs/" + unknown.String(), nil, 404, nil},
		{"unknown CID, CAR", "GET", "/ipfs/" + unknown.String() + "?format=car", nil, 404, nil},
		{"unknown CID, HEAD", "HEAD", "/ipfs/" + unknown.String(), nil, 404, nil},
		{"malformed CID", "GET", "/ipfs/not-a-cid", nil, 400, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, c.srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				for line := range strings.SplitSeq(v, "\n") { // "\n" separates header lines
					req.Header.Add(k, line)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s: HTTP %d, want %d: %.300s", tc.method, tc.path, resp.StatusCode, tc.status, body)
			}
			if tc.check != nil {
				tc.check(t, resp, body)
			}
		})
	}
}

func TestGatewayETag(t *testing.T) {
	c := setup(t)
	resp, err := http.Get(c.srv.URL + "/ipfs/" + c.file.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("Etag")
	req, _ := http.NewRequest("GET", c.srv.URL+"/ipfs/"+c.file.String(), nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if etag == "" || resp.StatusCode != http.StatusNotModified {
		t.Fatalf("ETag %q, If-None-Match: HTTP %d, want 304", etag, resp.StatusCode)
	}
}

func TestBlockstore(t *testing.T) {
	// A blockstore over an empty index: every block is not found, as ipld.ErrNotFound.
	svc, _ := did.GenerateEd25519()
	e, err := dag.Open(context.Background(), dag.Options{KV: kvmem.New(), Signer: svc, Schema: schema.MustLoad()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	bs, err := gateway.NewBlockstore(e, mem.New(), gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := message.NewBlock(message.CodecRaw, []byte("x")).CID
	if _, err := bs.Get(context.Background(), x); !ipld.IsNotFound(err) {
		t.Fatalf("Get: %v", err)
	}
	// Once the request's context has ended, no read is answered (not even from the
	// cache): any walk over the Blockstore, boxo's too, stops when the client leaves.
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := bs.Get(ended, x); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with an ended context: %v, want context.Canceled", err)
	}
	if ok, err := bs.Has(context.Background(), x); ok || err != nil {
		t.Fatalf("Has: %v %v", ok, err)
	}
	if err := bs.Put(context.Background(), nil); err != gateway.ErrReadOnly {
		t.Fatalf("Put: %v", err)
	}
}

// TestGatewaySpaces: with Options.Spaces, content no listed space holds is 404.
func TestGatewaySpaces(t *testing.T) {
	c := setup(t, gateway.Options{Spaces: []string{"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"}})
	for _, q := range []string{"", "?format=raw", "?format=car"} {
		resp, err := http.Get(c.srv.URL + "/ipfs/" + c.file.String() + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET%s of content no listed space holds: HTTP %d, want 404", q, resp.StatusCode)
		}
	}
}
