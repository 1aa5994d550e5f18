package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
)

// fakeBlobs keeps uploads in a blob/mem store; the signature is the query "sig=ok".
type fakeBlobs struct{ store blob.Store }

func (f fakeBlobs) Upload(ctx context.Context, c cid.Cid, r io.Reader, size int64, q url.Values) error {
	if q.Get("sig") != "ok" {
		return fmt.Errorf("%w: bad signature", ErrForbidden)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if !message.Sum(message.CodecCAR, data).Equals(c) {
		return fmt.Errorf("upload of %s: %w", c, blob.ErrDigestMismatch)
	}
	return f.store.Put(ctx, c.String(), bytes.NewReader(data), blob.PutOptions{Size: size})
}

func (f fakeBlobs) Open(ctx context.Context, c cid.Cid, rng *blob.Range) (io.ReadCloser, blob.Info, error) {
	return f.store.Get(ctx, c.String(), rng)
}

// fakeClaims returns one claim token for CIDs it knows.
type fakeClaims struct {
	known cid.Cid
	claim *ucan.Token
}

func (f fakeClaims) Claims(ctx context.Context, c cid.Cid) ([]*ucan.Token, error) {
	if !c.Equals(f.known) {
		return nil, fmt.Errorf("%w: no location for %s", ErrNotFound, c)
	}
	return []*ucan.Token{f.claim}, nil
}

func TestBlobAndClaimRoutes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	data := []byte("pretend this is a CAR")
	c := message.Sum(message.CodecCAR, data)
	claim := delegate(t, h.service, mustKey(t).DID(), h.service.DID(), "/assert/location")
	opts := h.srv.opts
	opts.Registerer, opts.Gatherer = nil, nil
	opts.Blobs = fakeBlobs{store: mem.New()}
	opts.Claims = fakeClaims{known: c, claim: claim}
	opts.Archive = archive.New(mem.New(), archive.Options{})
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	do := func(method, path string, body []byte, header ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, hs.URL+path, bytes.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	checkJSONError(t, do("PUT", "/blob/"+c.String()+"?sig=bad", data), 403, NameForbidden)
	checkJSONError(t, do("PUT", "/blob/"+c.String()+"?sig=ok", []byte("other bytes")), 400, NameBadRequest)
	checkJSONError(t, do("GET", "/blob/"+c.String(), nil), 404, NameNotFound)
	if resp := do("PUT", "/blob/"+c.String()+"?sig=ok", data); resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, readAll(t, resp))
	}
	resp := do("GET", "/blob/"+c.String(), nil)
	if b := readAll(t, resp); resp.StatusCode != 200 || !bytes.Equal(b, data) || resp.Header.Get("Content-Type") != message.ContentTypeCAR {
		t.Fatalf("get: %d %q %s", resp.StatusCode, b, resp.Header.Get("Content-Type"))
	}
	resp = do("GET", "/blob/"+c.String(), nil, "Range", "bytes=8-11")
	if b := readAll(t, resp); resp.StatusCode != 206 || string(b) != "this" || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 8-11/%d", len(data)) {
		t.Fatalf("range: %d %q %s", resp.StatusCode, b, resp.Header.Get("Content-Range"))
	}
	// RFC 9110 §14: an end past the blob is clamped, a suffix range is the last bytes, a
	// start past the end is 416 naming the size, another unit is ignored.
	n := len(data)
	for _, tc := range []struct {
		rng    string
		status int
		body   string
		cr     string
	}{
		{"bytes=8-5000", 206, string(data[8:]), fmt.Sprintf("bytes 8-%d/%d", n-1, n)},
		{"bytes=-3", 206, "CAR", fmt.Sprintf("bytes %d-%d/%d", n-3, n-1, n)},
		{"bytes=-500", 206, string(data), fmt.Sprintf("bytes 0-%d/%d", n-1, n)},
		{"bytes=0-", 206, string(data), fmt.Sprintf("bytes 0-%d/%d", n-1, n)},
		{fmt.Sprintf("bytes=%d-%d", n-1, n+10), 206, "R", fmt.Sprintf("bytes %d-%d/%d", n-1, n-1, n)},
		{"items=0-1", 200, string(data), ""},
		{"bytes=100-200", 416, "", fmt.Sprintf("bytes */%d", n)},
		{fmt.Sprintf("bytes=%d-", n), 416, "", fmt.Sprintf("bytes */%d", n)},
		{"bytes=-0", 416, "", fmt.Sprintf("bytes */%d", n)},
	} {
		resp := do("GET", "/blob/"+c.String(), nil, "Range", tc.rng)
		cr := resp.Header.Get("Content-Range")
		if tc.status == 416 {
			if cr != tc.cr {
				t.Errorf("Range %s: Content-Range %q, want %q", tc.rng, cr, tc.cr)
			}
			checkJSONError(t, resp, 416, NameRangeNotSatisf)
			continue
		}
		if b := readAll(t, resp); resp.StatusCode != tc.status || string(b) != tc.body || cr != tc.cr {
			t.Errorf("Range %s: %d %q %q, want %d %q %q", tc.rng, resp.StatusCode, b, cr, tc.status, tc.body, tc.cr)
		}
	}

	resp = do("GET", "/claims/"+c.String(), nil)
	roots, blocks, err := message.DecodeCAR(readAll(t, resp), 0)
	if err != nil || len(roots) != 1 || !roots[0].Equals(claim.CID) || !bytes.Equal(blocks[0].Data, claim.Raw) {
		t.Fatalf("claims: %v %v", roots, err)
	}
	other := message.Sum(message.CodecCAR, []byte("unknown"))
	checkJSONError(t, do("GET", "/claims/"+other.String(), nil), 404, NameNotFound)
	// Without Blobs and Claims the routes are not mounted.
	resp, err = http.Get(h.http.URL + "/claims/" + c.String())
	if err != nil {
		t.Fatal(err)
	}
	checkJSONError(t, resp, 404, NameNotFound)
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		h    string
		want string // rangeSpec.String, "" for nil
		err  bool
	}{
		{"", "", false},
		{"bytes=0-9", "bytes=0-9", false},
		{"bytes=5-", "bytes=5-", false},
		{"bytes=-5", "bytes=-5", false},
		{"bytes=-0", "bytes=-0", false},
		{"bytes= 3 - 4", "bytes=3-4", false},
		{"items=0-1", "", false},
		{"bytes=9-0", "", true},
		{"bytes=0-1,3-4", "", true},
		{"bytes=a-b", "", true},
		{"bytes=--5", "", true},
		{"bytes=5", "", true},
		{"bytes", "", true},
	} {
		r, err := parseRange(tc.h)
		if (err != nil) != tc.err {
			t.Errorf("%q: err %v", tc.h, err)
			continue
		}
		got := ""
		if r != nil {
			got = r.String()
		}
		if err == nil && got != tc.want {
			t.Errorf("%q: %s, want %s", tc.h, got, tc.want)
		}
	}
	if _, err := parseRange("bytes=9-0"); err == nil || !strings.Contains(err.Error(), "end") {
		t.Errorf("bytes=9-0: %v, want an error naming the end offset", err)
	}
}

// busyBlobs stores uploads as fakeBlobs does, then fails their delivery as the store
// endpoint does when the kv store gave up committing it (dag.ErrBusy).
type busyBlobs struct{ fakeBlobs }

func (b busyBlobs) Upload(ctx context.Context, c cid.Cid, r io.Reader, size int64, q url.Values) error {
	if err := b.fakeBlobs.Upload(ctx, c, r, size, q); err != nil {
		return err
	}
	return fmt.Errorf("uploading %s: stored, but delivering: %w: committing 1 operations: conflicting", c, dag.ErrBusy)
}

// TestUploadBusy: an upload whose delivery the store could not commit (dag.ErrBusy) is
// answered 503 with Retry-After, as a POST /ucan is: sending it again is the remedy.
func TestUploadBusy(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	data := []byte("pretend this is a CAR")
	c := message.Sum(message.CodecCAR, data)
	opts := h.srv.opts
	opts.Registerer, opts.Gatherer = nil, nil
	opts.Blobs = busyBlobs{fakeBlobs{store: mem.New()}}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	req, _ := http.NewRequest("PUT", hs.URL+"/blob/"+c.String()+"?sig=ok", bytes.NewReader(data))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("Retry-After"); got != strconv.Itoa(BusyRetryAfter) {
		t.Errorf("Retry-After %q, want %d", got, BusyRetryAfter)
	}
	checkJSONError(t, resp, http.StatusServiceUnavailable, NameUnavailable)
}
