package conformance

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/message"
)

// caseBlobRange stores and uploads a CAR, then reads it with Range headers as RFC 9110
// §14 has them: an end past the blob is clamped (206), a suffix range is the last bytes
// (206), and a range starting past the end is 416 with "Content-Range: bytes */size".
func caseBlobRange(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	car, carCID, _ := randomCAR(t, 1000)
	r := e.put(ctx, e.abs("store/"+carCID.String()), storeInput(carCID, len(car)))
	wantStatus(t, "store put", r, "pending")
	if code := e.upload(ctx, r.State(), car); code/100 != 2 {
		t.Fatalf("upload of the CAR: HTTP %d", code)
	}
	n := len(car)
	for _, tc := range []struct {
		rng    string
		status int
		body   []byte
		cr     string
	}{
		{fmt.Sprintf("bytes=0-%d", n+5000), http.StatusPartialContent, car, fmt.Sprintf("bytes 0-%d/%d", n-1, n)},
		{"bytes=-10", http.StatusPartialContent, car[n-10:], fmt.Sprintf("bytes %d-%d/%d", n-10, n-1, n)},
		{fmt.Sprintf("bytes=%d-", n-3), http.StatusPartialContent, car[n-3:], fmt.Sprintf("bytes %d-%d/%d", n-3, n-1, n)},
		{fmt.Sprintf("bytes=%d-%d", n, n+10), http.StatusRequestedRangeNotSatisfiable, nil, fmt.Sprintf("bytes */%d", n)},
	} {
		status, body, cr := e.getBlob(ctx, carCID.String(), tc.rng)
		if status != tc.status || cr != tc.cr || (tc.status == http.StatusPartialContent && !bytes.Equal(body, tc.body)) {
			t.Errorf("GET /blob/%s with Range %s: HTTP %d, Content-Range %q, %d bytes; want %d, %q, %d bytes",
				carCID, tc.rng, status, cr, len(body), tc.status, tc.cr, len(tc.body))
		}
	}
}

// caseBlobBadCID reads blobs no store entry can have: a CAR CID whose multihash is a
// 200-byte identity hash (too long for a file name) and a string that is not a CID.
// Either is the client's fault: 4xx, never 5xx.
func caseBlobBadCID(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	mh, err := multihash.Sum(bytes.Repeat([]byte{'a'}, 200), multihash.IDENTITY, -1)
	if err != nil {
		t.Fatalf("identity multihash: %v", err)
	}
	long := cid.NewCidV1(message.CodecCAR, mh)
	for _, c := range []string{long.String(), "not-a-cid"} {
		for _, rng := range []string{"", "bytes=-10"} {
			if status, _, _ := e.getBlob(ctx, c, rng); status != http.StatusNotFound && status != http.StatusBadRequest {
				t.Errorf("GET /blob/%.40s… (Range %q): HTTP %d, want 400 or 404", c, rng, status)
			}
		}
	}
}

// getBlob GETs /blob/<c> with an optional Range and returns the status, the body and the
// Content-Range header.
func (e *env) getBlob(ctx context.Context, c, rng string) (int, []byte, string) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url("/blob/"+c), nil)
	if err != nil {
		e.t.Fatalf("GET /blob: %v", err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("GET /blob/%.40s: %v", c, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("GET /blob/%.40s: reading: %v", c, err)
	}
	return resp.StatusCode, body, resp.Header.Get("Content-Range")
}
