package blobtest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/w3dag/w3dag/blob"
)

// chunked, as the length argument of doPresigned, sends the body without a length.
const chunked = -2

// doPresigned performs req with body, overriding the length when length >= 0 or sending
// it chunked when length is chunked, and returns the status code. A server may refuse a
// request by closing the connection while the body is still being sent; that counts as a
// refusal (status 0).
func doPresigned(t *testing.T, req blob.Request, body []byte, length int64) int {
	t.Helper()
	hreq, err := req.NewHTTPRequest(ctxT(t), bytes.NewReader(body))
	if err != nil {
		t.Fatalf("building the presigned request: %v", err)
	}
	switch {
	case length >= 0:
		hreq.ContentLength = length
	case length == chunked:
		hreq.ContentLength = -1
	}
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Logf("presigned %s with %d bytes: connection failed: %v", req.Method, hreq.ContentLength, err)
		return 0
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	t.Logf("presigned %s with %d bytes: %s %q", req.Method, hreq.ContentLength, resp.Status, msg)
	return resp.StatusCode
}

func testPresign(t *testing.T, st blob.Store) {
	p, ok := st.(blob.Presigner)
	if !ok {
		t.Skip("store does not implement blob.Presigner")
	}
	ctx := ctxT(t)
	data := randomBytes(13, 10000)
	sum := digest(data)
	presign := func(key string, expires time.Time) blob.Request {
		t.Helper()
		req, err := p.PresignPut(ctx, key, int64(len(data)), sum, expires)
		if errors.Is(err, blob.ErrNoPresign) {
			t.Skipf("store is not configured to presign: %v", err)
		}
		if err != nil {
			t.Fatalf("PresignPut(%q): %v", key, err)
		}
		if req.Method != http.MethodPut || req.URL == "" {
			t.Fatalf("PresignPut(%q) = %+v, want a PUT to a URL", key, req)
		}
		return req
	}
	ok2xx := func(code int) bool { return code >= 200 && code < 300 }

	if _, err := p.PresignPut(ctx, "p/x", int64(len(data)), sum[:31], time.Now().Add(time.Minute)); err == nil {
		t.Errorf("PresignPut with a 31-byte digest succeeded")
	}
	if _, err := p.PresignPut(ctx, "p/x", -1, sum, time.Now().Add(time.Minute)); err == nil {
		t.Errorf("PresignPut with size -1 succeeded")
	}

	req := presign("p/good", time.Now().Add(10*time.Minute))
	if code := doPresigned(t, req, data, -1); !ok2xx(code) {
		t.Fatalf("presigned PUT with the right bytes: status %d, want 2xx", code)
	}
	mustHold(t, st, "p/good", data)

	short := presign("p/short", time.Now().Add(10*time.Minute))
	if code := doPresigned(t, short, data[:len(data)-1], int64(len(data)-1)); ok2xx(code) {
		t.Errorf("presigned PUT one byte short: status %d, want a rejection", code)
	}
	mustBeAbsent(t, st, "p/short")

	long := presign("p/long", time.Now().Add(10*time.Minute))
	if code := doPresigned(t, long, append(slices.Clone(data), 0), int64(len(data)+1)); ok2xx(code) {
		t.Errorf("presigned PUT one byte long: status %d, want a rejection", code)
	}
	mustBeAbsent(t, st, "p/long")

	// Without a Content-Length (chunked), the length is still enforced.
	for _, tc := range []struct {
		key  string
		body []byte
	}{
		{"p/chunked-short", data[:len(data)-1]},
		{"p/chunked-long", append(slices.Clone(data), 0)},
	} {
		req := presign(tc.key, time.Now().Add(10*time.Minute))
		if code := doPresigned(t, req, tc.body, chunked); ok2xx(code) {
			t.Errorf("presigned PUT of %d bytes (chunked) for a %d-byte blob: status %d, want a rejection", len(tc.body), len(data), code)
		}
		mustBeAbsent(t, st, tc.key)
	}

	bad := slices.Clone(data)
	bad[len(bad)/2] ^= 1
	wrong := presign("p/digest", time.Now().Add(10*time.Minute))
	if code := doPresigned(t, wrong, bad, -1); ok2xx(code) {
		t.Errorf("presigned PUT with other bytes of the same length: status %d, want a rejection", code)
	}
	mustBeAbsent(t, st, "p/digest")

	// Another key's request cannot be used for this key.
	mustPut(t, st, "p/kept", randomBytes(14, 10))
	if !strings.Contains(req.URL, "p/good") {
		t.Logf("presigned URL %q does not show its key; skipping the key-swap check", req.URL)
	} else {
		swapped := req
		swapped.URL = strings.Replace(req.URL, "p/good", "p/kept", 1)
		if code := doPresigned(t, swapped, data, -1); ok2xx(code) {
			t.Errorf("presigned PUT for p/good replayed on p/kept: status %d, want a rejection", code)
		}
		mustHold(t, st, "p/kept", randomBytes(14, 10))
	}

	// Expiry has a granularity of a second in S3 presigned URLs.
	expires := time.Now().Add(time.Second)
	late := presign("p/late", expires)
	time.Sleep(time.Until(expires.Add(1500 * time.Millisecond)))
	if code := doPresigned(t, late, data, -1); ok2xx(code) {
		t.Errorf("presigned PUT after expiry: status %d, want a rejection", code)
	}
	mustBeAbsent(t, st, "p/late")
}
