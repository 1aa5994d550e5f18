package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzHTTP sends the service, as serve runs it (bolt, fs blobs, the gateway, public reads,
// machines and tasks), requests of any method, path, query, Range header and body, and
// checks that none is answered with a 5xx: what a client sends wrongly is a 4xx naming it.
// Watch streams are left out (they stay open).
func FuzzHTTP(f *testing.F) {
	base, _ := startServerAt(f, f.TempDir(), "127.0.0.1:0")
	hc := &http.Client{Timeout: 10 * time.Second}
	car := "bagbaierayfcfbwmnwqdrmwuql4a2zcgnxykrrrqbymyhfbqh5ylrwiqsk5ya"
	dir := "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
	for _, seed := range []struct {
		method      uint8
		path, query string
		rng         string
		body        []byte
	}{
		{0, "/healthz", "", "", nil},
		{0, "/receipts/" + dir, "", "", nil},
		{0, "/blob/" + car, "", "bytes=0-9", nil},
		{2, "/blob/" + car, "sig=00&expires=1", "", []byte("not a car")},
		{0, "/piece/bafkzcibcaapgdmjiqxbq", "", "", nil},
		{0, "/ipfs/" + dir + "/a/b", "format=car&dag-scope=entity", "bytes=1-2", nil},
		{0, "/ipfs/" + dir, "format=raw", "", nil},
		{0, "/index/" + car, "", "", nil},
		{0, "/claims/" + car, "", "", nil},
		{1, "/ucan", "", "", []byte{0x0a, 0xa1}},
		{1, "/broker/report/" + car, "sig=00", "", []byte(`{"failure": {"reason": "x"}}`)},
		{0, "/schema", "", "", nil},
		{0, "/.well-known/did.json", "", "", nil},
		{0, "/metrics", "", "", nil},
	} {
		f.Add(seed.method, seed.path, seed.query, seed.rng, seed.body)
	}
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodHead, http.MethodDelete}
	f.Fuzz(func(t *testing.T, method uint8, path, query, rng string, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "/watch") {
			return
		}
		u, err := url.Parse(base + path)
		if err != nil || u.Host != strings.TrimPrefix(base, "http://") || strings.HasPrefix(u.Path, "/watch") {
			return
		}
		u.RawQuery = query
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, methods[int(method)%len(methods)], u.String(), bytes.NewReader(body))
		if err != nil {
			return
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return // a request the client or the server's parser refuses
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s (Range %q, %d-byte body): %s %s", req.Method, u, rng, len(body), resp.Status, msg)
		}
	})
}
