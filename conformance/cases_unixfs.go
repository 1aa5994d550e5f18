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

	"github.com/w3dag/w3dag/client/unixfs"
)

// caseUnixFSRoundTrip is what `w3dag up` and `w3dag down` do, against the service: a
// directory (an empty file, a unicode name, a file of two chunks) imported as UnixFS with
// client/unixfs, its CAR stored and named by an upload entry, then
// GET /ipfs/{root}?format=car&dag-scope=all unpacked with every block verified gives the
// same files, and GET /ipfs/{root}/{path} the file's bytes.
func caseUnixFSRoundTrip(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	tmp, err := os.MkdirTemp("", "w3dag-conformance-*")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "in")
	files := map[string][]byte{
		"a.txt":          []byte("hello"),
		"empty":          {},
		"süß/ünï 文件.txt": random(3000),
		"two-chunks.bin": random(unixfs.ChunkSize + 1),
	}
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
	p := e.abs("store/" + shard.CID.String())
	r := e.put(ctx, p, storeInput(shard.CID, len(car)))
	if r.Status() == "pending" {
		if code := e.upload(ctx, r.State(), car); code/100 != 2 {
			t.Fatalf("upload: HTTP %d", code)
		}
		r = e.put(ctx, p, storeInput(shard.CID, len(car)))
	}
	wantStatus(t, "store put", r, "done")
	e.put(ctx, e.abs("upload/"+root.String()), uploadInput(root, []cid.Cid{shard.CID}...))

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
	err = unixfs.Extract(ctx, body, root, nil, out)
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
