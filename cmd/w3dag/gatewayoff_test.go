package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/carscan"
)

// TestServeGatewayOff: with --gateway=false the content a default service serves at
// /ipfs/{cid} (and the upload index at /index/) answers 404 GatewayDisabled saying the
// gateway is off, for GET and HEAD, and `w3dag down` fails saying so; with the default,
// the same content is served.
func TestServeGatewayOff(t *testing.T) {
	clearEnv(t)
	get := func(method, url string) (int, []byte, http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body, resp.Header
	}
	// rootOf reads a stored CAR back and returns its root block's CID.
	rootOf := func(url, car string) string {
		t.Helper()
		code, body, _ := get("GET", url+"/blob/"+car)
		res, err := carscan.Scan(bytes.NewReader(body))
		if code != 200 || err != nil || len(res.Roots) != 1 {
			t.Fatalf("GET /blob/%s: HTTP %d, %v", car, code, err)
		}
		return res.Roots[0].String()
	}

	on, _ := runServeFlags(t)
	root := rootOf(on, storeSmallCAR(t, on))
	if code, body, _ := get("GET", on+"/ipfs/"+root+"?format=raw"); code != 200 || len(body) == 0 {
		t.Fatalf("gateway on: GET /ipfs/%s: HTTP %d, %d bytes", root, code, len(body))
	}

	off, _ := runServeFlags(t, "--gateway=false")
	root = rootOf(off, storeSmallCAR(t, off))
	for _, tc := range []struct{ method, path string }{
		{"GET", "/ipfs/" + root},
		{"GET", "/ipfs/" + root + "?format=car"},
		{"GET", "/ipfs/" + root + "/some/path"},
		{"HEAD", "/ipfs/" + root},
		{"GET", "/index/did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK/" + root},
	} {
		code, body, h := get(tc.method, off+tc.path)
		if code != http.StatusNotFound {
			t.Errorf("--gateway=false: %s %s: HTTP %d, want 404", tc.method, tc.path, code)
			continue
		}
		if tc.method == "HEAD" {
			continue
		}
		var e struct {
			Error struct{ Name, Message string } `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || h.Get("Content-Type") != "application/json" {
			t.Errorf("--gateway=false: %s %s: body %q (%s), want a JSON error", tc.method, tc.path, body, h.Get("Content-Type"))
			continue
		}
		if e.Error.Name != "GatewayDisabled" || !strings.Contains(e.Error.Message, "gateway is disabled") {
			t.Errorf("--gateway=false: %s %s: error %+v, want GatewayDisabled saying the gateway is disabled", tc.method, tc.path, e.Error)
		}
	}
	dir := t.TempDir()
	_, stderr, code := cli(t, "down", root, "-o", filepath.Join(dir, "out"), "--url", off)
	if code != 1 || !strings.Contains(stderr, "404") || !strings.Contains(stderr, "gateway is disabled") {
		t.Errorf("down from a service without a gateway: exit %d, %q; want 1 saying the gateway is disabled", code, stderr)
	}
}
