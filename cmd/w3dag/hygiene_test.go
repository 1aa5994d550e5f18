package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/store"
)

// GET and PUT /blob of a CAR CID with a 200-byte identity multihash: its name is too long
// for a file, and no store entry can have it; 404 and 400, not 500.
func TestBlobLongIdentityCID(t *testing.T) {
	svc := newHTTPService(t)
	// A stored blob, so that carpark/ exists (as on any running service).
	data := bytes.Repeat([]byte("w3dag"), 1097/5+1)[:1097]
	link := carOf(data)
	if err := svc.fs.Put(context.Background(), carwhere.BlobKey(link), bytes.NewReader(data), blob.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	mh, err := multihash.Sum(bytes.Repeat([]byte{'a'}, 200), multihash.IDENTITY, -1)
	if err != nil {
		t.Fatal(err)
	}
	c := cid.NewCidV1(collection.CodecCAR, mh)
	if resp, body := httpDo(t, http.MethodGet, svc.url+"/blob/"+c.String(), nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /blob/<200-byte identity CID>: HTTP %d %s, want 404", resp.StatusCode, body)
	}
	if resp, body := httpDo(t, http.MethodGet, svc.url+"/blob/"+c.String(), nil, nil); true {
		t.Logf("DEBUG %d %s %d", resp.StatusCode, body, len(c.String()))
	}
	if resp, body := httpDo(t, http.MethodGet, svc.url+"/blob/"+c.String(), nil, map[string]string{"Range": "bytes=-10"}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("ranged GET /blob/<200-byte identity CID>: HTTP %d %s, want 404", resp.StatusCode, body)
	}
	if resp, body := httpDo(t, http.MethodGet, svc.url+"/blob/"+c.String(), nil, nil); true {
		t.Logf("DEBUG %d %s %d", resp.StatusCode, body, len(c.String()))
	}
	if resp, body := httpDo(t, http.MethodPut, svc.url+"/blob/"+c.String()+"?sig=x", []byte("data"), nil); resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusForbidden {
		t.Errorf("PUT /blob/<200-byte identity CID>: HTTP %d %s, want 400 or 403", resp.StatusCode, body)
	}
}

// Ranges on the fs backend as RFC 9110 says: the end clamped, suffixes, 416 naming the size.
func TestBlobRangeFS(t *testing.T) {
	svc := newHTTPService(t)
	data := make([]byte, 1097)
	for i := range data {
		data[i] = byte(i)
	}
	link := carOf(data)
	if err := svc.fs.Put(context.Background(), carwhere.BlobKey(link), bytes.NewReader(data), blob.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rng    string
		status int
		body   []byte
		cr     string
	}{
		{"bytes=0-5000", 206, data, "bytes 0-1096/1097"},
		{"bytes=-10", 206, data[1087:], "bytes 1087-1096/1097"},
		{"bytes=1000-", 206, data[1000:], "bytes 1000-1096/1097"},
		{"bytes=1097-2000", 416, nil, "bytes */1097"},
	} {
		resp, body := httpDo(t, http.MethodGet, svc.url+"/blob/"+link.String(), nil, map[string]string{"Range": tc.rng})
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Range") != tc.cr || (tc.status == 206 && !bytes.Equal(body, tc.body)) {
			t.Errorf("Range %s: HTTP %d, Content-Range %q, %d bytes; want %d, %q, %d bytes", tc.rng, resp.StatusCode, resp.Header.Get("Content-Range"), len(body), tc.status, tc.cr, len(tc.body))
		}
	}
}

// An empty service.key (a crash while it was first written) stops serve with an error
// naming the file, not "bad multicodec varint".
func TestEmptyServiceKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), serviceKeyFile)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := loadServiceKey(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("loading an empty service key: %v, want an error naming %s as empty", err, path)
	}
}

// A temporary upload file left by a process killed mid-upload is removed when serve
// starts (it was never removed).
func TestServeSweepsTempFiles(t *testing.T) {
	data := t.TempDir()
	dir := filepath.Join(data, blobsDir, "carpark", "bagbaiera")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abandoned := filepath.Join(dir, "~put-00000000000000aa")
	if err := os.WriteFile(abandoned, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * store.DefaultUploadURLTTL)
	if err := os.Chtimes(abandoned, old, old); err != nil {
		t.Fatal(err)
	}
	startServerAt(t, data, "127.0.0.1:0")
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := os.Stat(abandoned)
		if os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still exists 20 s after serve started (%v)", abandoned, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
