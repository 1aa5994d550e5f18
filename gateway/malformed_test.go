package gateway_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockstore"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	datastore "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/gateway"
	"github.com/w3dag/w3dag/internal/dagbomb"
)

// bombs holds, in one blockstore, DAGs a client could store to make a gateway response
// walk for ever while it writes nothing (internal/dagbomb): three levels of file nodes
// holding no bytes, each of 100 links to the same child (10⁶ visits of the empty node at
// the bottom). barren says its file is empty; liar says every link holds the bytes below
// it, and its root 10⁶ bytes. typed is a file whose one link is a directory.
type bombs struct {
	bs                  blockstore.Blockstore
	barren, liar, typed cid.Cid
}

func buildBombs(t *testing.T) bombs {
	t.Helper()
	bs := blockstore.NewBlockstore(dssync.MutexWrap(datastore.NewMapDatastore()))
	add := func(levels ...dagbomb.Level) cid.Cid {
		t.Helper()
		blks, err := dagbomb.Build(levels...)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blks {
			blk, err := blocks.NewBlockWithCid(b.Data, b.CID)
			if err != nil {
				t.Fatal(err)
			}
			if err := bs.Put(context.Background(), blk); err != nil {
				t.Fatal(err)
			}
		}
		return dagbomb.Root(blks)
	}
	return bombs{
		bs:     bs,
		barren: add(dagbomb.Uniform(ft.TFile, 3, 100)...),
		liar:   add(dagbomb.Level{Type: ft.TFile, Links: 100, Size: 1}, dagbomb.Level{Type: ft.TFile, Links: 100, Size: 100}, dagbomb.Level{Type: ft.TFile, Links: 100, Size: 100 * 100}),
		typed:  add(dagbomb.Level{Type: ft.TDirectory}, dagbomb.Level{Type: ft.TFile, Links: 1, Size: 1}),
	}
}

// TestFileMalformed holds the gateway to answering, within a bounded time, a stored file
// whose DAG gives no bytes however long it is walked. Before the fix, the whole-file GET
// and the HEAD of the barren DAG waited for ever (boxo sniffing a content type from a
// walk of 10⁶ empty nodes, which did not stop when the client left), and boxo's own
// walks (a Range; a CAR of dag-scope=entity, now the gateway's) ran for as long as the
// client waited.
func TestFileMalformed(t *testing.T) {
	b := buildBombs(t)
	const wait = 10 * time.Second // the default retrieval timeout, 30 s, is not what ends these
	srv, _ := serveBlocks(t, b.bs, []cid.Cid{b.barren, b.liar, b.typed}, nil, gateway.Options{})
	cases := []struct {
		name    string
		method  string
		root    cid.Cid
		query   string
		header  map[string]string
		status  int
		bodyHas string // in the body, when status is 422
	}{
		{name: "whole file of empty nodes", method: "GET", root: b.barren, status: 422, bodyHas: "more than 4096 nodes in a row hold no bytes"},
		{name: "HEAD of a file of empty nodes", method: "HEAD", root: b.barren, status: 422},
		{name: "whole file whose nodes lie", method: "GET", root: b.liar, status: 422, bodyHas: "more than 4096 nodes in a row hold no bytes"},
		{name: "HEAD of a file whose nodes lie", method: "HEAD", root: b.liar, status: 422},
		{name: "whole file holding a directory", method: "GET", root: b.typed, status: 422, bodyHas: "it holds a Directory node"},
		// Boxo's walk, cut by MaxReadsWithoutWrite; boxo answers a read error while it
		// sniffs the content type with a 500 of its own.
		{name: "range of a file whose nodes lie (boxo's walk)", method: "GET", root: b.liar, header: map[string]string{"Range": "bytes=0-9"}, status: 500},
		{name: "CAR of the entity", method: "GET", root: b.liar, query: "?format=car&dag-scope=entity", status: 200},
		{name: "CAR without duplicates", method: "GET", root: b.barren, query: "?format=car", status: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+"/ipfs/"+tc.root.String()+tc.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			hc := &http.Client{Timeout: wait}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("HTTP %d, want %d: %.300s", resp.StatusCode, tc.status, body)
			}
			if tc.bodyHas != "" && !strings.Contains(string(body), tc.bodyHas) {
				t.Errorf("body %q does not say %q", body, tc.bodyHas)
			}
			if err != nil {
				t.Errorf("reading the body: %v (%d bytes), want it whole", err, len(body))
			}
		})
	}
}

// stalled is a blob store whose reads wait until their context ends: blocks that never
// come.
type stalled struct{ blob.Store }

func (s stalled) Get(ctx context.Context, key string, rng *blob.Range) (io.ReadCloser, blob.Info, error) {
	<-ctx.Done()
	return nil, blob.Info{}, ctx.Err()
}

// TestRetrievalTimeout: a response that writes nothing for Options.RetrievalTimeout is
// ended, a 504 before its first byte, and the read it waited on is given up.
func TestRetrievalTimeout(t *testing.T) {
	b := buildBombs(t)
	const timeout = 200 * time.Millisecond
	srv, _ := serveBlocksFrom(t, b.bs, []cid.Cid{b.barren}, nil, gateway.Options{RetrievalTimeout: timeout, CacheSize: -1}, func(s blob.Store) blob.Store { return stalled{s} })
	hc := &http.Client{Timeout: 50 * timeout}
	for _, q := range []string{"?format=raw", "", "?format=car"} {
		start := time.Now()
		resp, err := hc.Get(srv.URL + "/ipfs/" + b.barren.String() + q)
		if err != nil {
			t.Fatalf("%s: no answer: %v", q, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusGatewayTimeout {
			t.Errorf("%s: HTTP %d after %s, want 504", q, resp.StatusCode, time.Since(start))
		}
	}
}
