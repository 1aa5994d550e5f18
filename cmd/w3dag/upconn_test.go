package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// writerToBody is a request body that writes itself (as a view shard's reader does) and
// counts the bytes WriteTo sent.
type writerToBody struct {
	r    *bytes.Reader
	sent *atomic.Int64
}

func (b writerToBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b writerToBody) Remaining() int64           { return int64(b.r.Len()) }
func (b writerToBody) Close() error               { return nil }
func (b writerToBody) WriteTo(w io.Writer) (int64, error) {
	n, err := b.r.WriteTo(w)
	b.sent.Add(n)
	return n, err
}

// TestUpClientWritesBodyToConn: `w3dag up`'s HTTP client hands a body that writes itself
// the connection (shardConn.ReadFrom), so a view shard's file ranges go with sendfile,
// not through net/http's copy buffer; the server receives every byte.
func TestUpClientWritesBodyToConn(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	data := bytes.Repeat([]byte("shard bytes "), 100_000)
	var sent atomic.Int64
	req, err := http.NewRequest(http.MethodPut, srv.URL, writerToBody{bytes.NewReader(data), &sent})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(data))
	resp, err := newUpHTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("server received %d bytes, want the %d sent", len(got), len(data))
	}
	if n := sent.Load(); n != int64(len(data)) {
		t.Errorf("WriteTo sent %d of the body's %d bytes; the rest went through a copy buffer", n, len(data))
	}
}
