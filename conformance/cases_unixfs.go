package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/client/unixfs"
)

// caseUnixFSRoundTrip is what `w3dag up` and `w3dag down` do, against the service: a
// directory (an empty file, a unicode name, a file of two chunks) imported as UnixFS with
// client/unixfs, its CAR stored and named by an upload entry, then
// GET /ipfs/{root}?format=car&dag-scope=all unpacked with every block verified gives the
// same files, and GET /ipfs/{root}/{path} the file's bytes.
func caseUnixFSRoundTrip(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	files := map[string][]byte{
		"a.txt":          []byte("hello"),
		"empty":          {},
		"süß/ünï 文件.txt": random(3000),
		"two-chunks.bin": random(unixfs.ChunkSize + 1),
	}
	tmp, root := e.storeUnixFS(ctx, files)
	defer os.RemoveAll(tmp)

	get := func(path string) (int, io.ReadCloser) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url(path), nil)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp.StatusCode, resp.Body
	}
	code, body := get("/ipfs/" + root.String() + "?format=car&dag-scope=all")
	out := filepath.Join(tmp, "out")
	err := unixfs.Extract(ctx, body, root, nil, out, unixfs.ExtractOptions{})
	body.Close()
	if code != http.StatusOK || err != nil {
		t.Fatalf("GET /ipfs/%s?format=car&dag-scope=all: HTTP %d, unpacking: %v", root, code, err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after the round trip: %d bytes (%v), want %d", name, len(got), err, len(want))
		}
	}
	code, body = get("/ipfs/" + root.String() + "/" + url.PathEscape("süß") + "/" + url.PathEscape("ünï 文件.txt"))
	got, _ := io.ReadAll(body)
	body.Close()
	if code != http.StatusOK || !bytes.Equal(got, files["süß/ünï 文件.txt"]) {
		t.Errorf("GET /ipfs/{root}/süß/ünï 文件.txt: HTTP %d, %d bytes, want 200 with the file's 3000", code, len(got))
	}
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// storeUnixFS writes files (slash-separated names) into a new temporary directory,
// imports it as UnixFS with client/unixfs (as `w3dag up` does), stores its CAR and puts the
// upload entry. It returns the temporary directory (the caller removes it) and the root.
func (e *env) storeUnixFS(ctx context.Context, files map[string][]byte) (string, cid.Cid) {
	t := e.t
	t.Helper()
	tmp, err := os.MkdirTemp("", "w3dag-conformance-*")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	src := filepath.Join(tmp, "in")
	for name, data := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatalf("%v", err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatalf("%v", err)
		}
	}
	list, err := unixfs.List([]string{src}, unixfs.Options{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	var shard unixfs.Shard
	s := unixfs.NewSharder(tmp, 0, func(sh unixfs.Shard) error { shard = sh; return nil })
	root, err := unixfs.Import(ctx, list, unixfs.Options{}, s.Add)
	if err == nil {
		err = s.Close()
	}
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	car, err := os.ReadFile(shard.Path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	e.storeCAR(ctx, car)
	e.put(ctx, e.abs("upload/"+root.String()), uploadInput(root, []cid.Cid{shard.CID}...))
	return tmp, root
}

// caseGatewayMissingPath checks that a CAR request for a path below a stored root that
// names nothing (a name no directory entry has, a path below a file) is 404 before any
// byte of a CAR, by ?format=car, by Accept, with dag-scope=block and for HEAD; the path
// that exists is a 200 CAR whose root is the file.
func caseGatewayMissingPath(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	tmp, root := e.storeUnixFS(ctx, map[string][]byte{"a.txt": []byte("hello"), "d/b.txt": []byte("world")})
	defer os.RemoveAll(tmp)
	get := func(method, path string, hdr map[string]string) (int, []byte, http.Header) {
		t.Helper()
		return e.gatewayGet(ctx, method, path, hdr)
	}
	base := "/ipfs/" + root.String()
	code, body, _ := get("GET", base+"/a.txt?format=car", nil)
	res, err := carscan.Scan(bytes.NewReader(body))
	if code != http.StatusOK || err != nil || len(res.Roots) != 1 {
		t.Fatalf("GET %s/a.txt?format=car: HTTP %d, %v; want 200 and a CAR", base, code, err)
	}
	// The CAR's root is the file: unpacked from it, the CAR is a.txt's bytes (from the
	// directory's root, or an empty identity root, it would not be).
	out := filepath.Join(tmp, "a.txt")
	if err := unixfs.Extract(ctx, bytes.NewReader(body), res.Roots[0], nil, out, unixfs.ExtractOptions{}); err != nil {
		t.Errorf("GET %s/a.txt?format=car: unpacking from its root %s: %v", base, res.Roots[0], err)
	} else if got, err := os.ReadFile(out); err != nil || string(got) != "hello" {
		t.Errorf("GET %s/a.txt?format=car: its root %s unpacks to %q (%v), want a.txt's \"hello\"", base, res.Roots[0], got, err)
	}
	carAccept := map[string]string{"Accept": "application/vnd.ipld.car; version=1"}
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
	}{
		{"no such name, ?format=car", "GET", base + "/nope.txt?format=car", nil},
		{"no such name, Accept", "GET", base + "/nope.txt", carAccept},
		{"no such name, dag-scope=block", "GET", base + "/nope.txt?format=car&dag-scope=block", nil},
		{"no such name in a subdirectory", "GET", base + "/d/nope.txt?format=car&dag-scope=all", nil},
		{"no such name, HEAD", "HEAD", base + "/nope.txt?format=car", nil},
		{"below a file", "GET", base + "/a.txt/deeper?format=car", nil},
	} {
		code, body, h := get(tc.method, tc.path, tc.hdr)
		if code != http.StatusNotFound {
			t.Errorf("%s (%s %s): HTTP %d (%s, %d bytes), want 404", tc.name, tc.method, tc.path, code, h.Get("Content-Type"), len(body))
			continue
		}
		if _, err := carscan.Scan(bytes.NewReader(body)); err == nil && len(body) > 0 {
			t.Errorf("%s: the 404 body is a CAR", tc.name)
		}
	}
}
