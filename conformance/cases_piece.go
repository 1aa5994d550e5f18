package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ipfs/go-cid"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"

	"github.com/w3dag/w3dag/client"
	commp "github.com/w3dag/w3dag/piece"
)

// casePieceBytes stores a small CAR, waits (up to 30 s) for its Filecoin piece
// (/<service>/piece/<CAR CID>, a public service collection) and reads the CAR back by
// its piece CID, as a deal broker does (docs/broker.md §2): GET /piece/<piece CID> is 200
// with exactly the CAR's bytes as application/vnd.ipld.car, a Range is 206 with those
// bytes, and a piece no stored CAR has is 404.
func casePieceBytes(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	car, carCID, _ := randomCAR(t, 700)
	storePath := e.abs("store/" + carCID.String())
	r := e.put(ctx, storePath, storeInput(carCID, len(car)))
	wantStatus(t, "store put", r, "pending")
	if code := e.upload(ctx, r.State(), car); code/100 != 2 {
		t.Fatalf("upload of the CAR: HTTP %d", code)
	}
	rel := "piece/" + carCID.String()
	var pc cid.Cid
	for deadline := time.Now().Add(30 * time.Second); !pc.Defined(); time.Sleep(100 * time.Millisecond) {
		got := e.invoke(ctx, e.service, client.CmdGet, pathArgs(rel))
		if n := lookupNode(got.State(), "piece"); got.Error == nil && n != nil {
			if l, err := n.AsLink(); err == nil {
				if cl, ok := l.(cidlink.Link); ok {
					pc = cl.Cid
				}
			}
		}
		if !pc.Defined() && time.Now().After(deadline) {
			t.Fatalf("/<service>/%s has no piece after 30 s (%v)", rel, got.Error)
		}
	}

	status, body, ctype := e.getPiece(ctx, pc.String(), "")
	if status != http.StatusOK || !bytes.Equal(body, car) || ctype != "application/vnd.ipld.car" {
		t.Errorf("GET /piece/%s: HTTP %d, %d bytes (%s); want 200 with the CAR's %d bytes as application/vnd.ipld.car", pc, status, len(body), ctype, len(car))
	}
	status, body, _ = e.getPiece(ctx, pc.String(), "bytes=100-199")
	if status != http.StatusPartialContent || !bytes.Equal(body, car[100:200]) {
		t.Errorf("GET /piece/%s with Range bytes=100-199: HTTP %d, %d bytes; want 206 with bytes 100-199", pc, status, len(body))
	}
	other := make([]byte, 300)
	rand.Read(other)
	unknown, err := commp.Compute(bytes.NewReader(other))
	if err != nil {
		t.Fatalf("commP: %v", err)
	}
	if status, _, _ := e.getPiece(ctx, unknown.CID().String(), ""); status != http.StatusNotFound {
		t.Errorf("GET /piece of a piece no CAR has: HTTP %d, want 404", status)
	}
}

// getPiece GETs /piece/<piece> with an optional Range and returns the status, the body
// and its Content-Type.
func (e *env) getPiece(ctx context.Context, piece, rng string) (int, []byte, string) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url("/piece/"+piece), nil)
	if err != nil {
		e.t.Fatalf("GET /piece: %v", err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("GET /piece/%s: %v", piece, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("GET /piece/%s: %v", piece, fmt.Errorf("reading: %w", err))
	}
	return resp.StatusCode, body, resp.Header.Get("Content-Type")
}
