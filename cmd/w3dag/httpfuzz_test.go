package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/ucan/did"
)

// FuzzHTTP sends the service, as serve runs it (bolt, fs blobs, the gateway, public reads,
// machines and tasks), requests of any method, path, query, Range header and body, and
// checks that none is answered with a 5xx: what a client sends wrongly is a 4xx naming it.
// With auth, a request carries the bearer a space's own key signs for reading its path
// (what `w3dag watch` sends), so watch streams get past authorisation; a stream that
// opens is closed once its status has come (it would stay open).
func FuzzHTTP(f *testing.F) {
	base, _ := startServerAt(f, f.TempDir(), "127.0.0.1:0")
	hc := &http.Client{Timeout: 10 * time.Second}
	space, err := did.GenerateEd25519()
	if err != nil {
		f.Fatal(err)
	}
	c, err := client.New(client.Options{URL: base, Signer: space, ServiceDID: serviceDID(f, hc, base)})
	if err != nil {
		f.Fatal(err)
	}
	car := "bagbaierayfcfbwmnwqdrmwuql4a2zcgnxykrrrqbymyhfbqh5ylrwiqsk5ya"
	dir := "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
	watch := "/watch/" + space.DID()
	for _, seed := range []struct {
		method      uint8
		path, query string
		rng         string
		body        []byte
		auth        bool
	}{
		{0, "/healthz", "", "", nil, false},
		{0, "/receipts/" + dir, "", "", nil, false},
		{0, "/blob/" + car, "", "bytes=0-9", nil, false},
		{2, "/blob/" + car, "sig=00&expires=1", "", []byte("not a car"), false},
		{0, "/piece/bafkzcibcaapgdmjiqxbq", "", "", nil, false},
		{0, "/ipfs/" + dir + "/a/b", "format=car&dag-scope=entity", "bytes=1-2", nil, false},
		{0, "/ipfs/" + dir, "format=raw", "", nil, false},
		{0, "/index/" + car, "", "", nil, false},
		{0, "/claims/" + car, "", "", nil, false},
		{1, "/ucan", "", "", []byte{0x0a, 0xa1}, false},
		{1, "/broker/report/" + car, "sig=00", "", []byte(`{"failure": {"reason": "x"}}`), false},
		{0, "/schema", "", "", nil, false},
		{0, "/.well-known/did.json", "", "", nil, false},
		{0, "/metrics", "", "", nil, false},
		{0, watch + "/upload", "after=0", "", nil, true},
		{0, watch + "/store/" + car, "after=18446744073709551616", "", nil, true},
		{0, watch, "", "", nil, true},
		{0, watch + "/upload", "", "", nil, false},
	} {
		f.Add(seed.method, seed.path, seed.query, seed.rng, seed.body, seed.auth)
	}
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodHead, http.MethodDelete}
	f.Fuzz(func(t *testing.T, method uint8, path, query, rng string, body []byte, auth bool) {
		if !strings.HasPrefix(path, "/") {
			return
		}
		u, err := url.Parse(base + path)
		if err != nil || u.Host != strings.TrimPrefix(base, "http://") {
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
		if auth {
			// The bearer names the path below /watch; one that is no DAG path has none.
			bearer, err := c.Bearer(ctx, strings.TrimPrefix(u.Path, "/watch"))
			if err != nil {
				return
			}
			req.Header.Set("Authorization", bearer)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return // a request the client or the server's parser refuses
		}
		var msg []byte
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			msg, _ = io.ReadAll(io.LimitReader(resp.Body, 512))
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s (Range %q, %d-byte body, auth %v): %s %s", req.Method, u, rng, len(body), auth, resp.Status, msg)
		}
	})
}

// serviceDID reads the service's DID from its /.well-known/did.json.
func serviceDID(tb testing.TB, hc *http.Client, base string) string {
	tb.Helper()
	resp, err := hc.Get(base + "/.well-known/did.json")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || !strings.HasPrefix(doc.ID, "did:") {
		tb.Fatalf("/.well-known/did.json: %q, %v", doc.ID, err)
	}
	return doc.ID
}
