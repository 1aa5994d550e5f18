package conformance

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/internal/dagbomb"
	"github.com/w3dag/w3dag/message"
)

// barrenWait bounds each request of caseGatewayBarrenFile: a gateway that walks the whole
// DAG before it answers takes far longer.
const barrenWait = 10 * time.Second

// caseGatewayBarrenFile stores a CAR holding a UnixFS file whose DAG gives no byte
// however long it is walked: three levels of file nodes holding no data, each linking
// the same child 100 times, over an empty file node (10⁶ visits that write nothing; a
// client can store one of 1,000 links a node, 10⁹ visits, as cheaply). Asked for whole,
// by GET and by HEAD, it is 422 Unprocessable Content within barrenWait, not a response
// that never starts; its CAR without duplicates is a 200 holding its four blocks.
func caseGatewayBarrenFile(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	blocks, err := dagbomb.Build(dagbomb.Uniform(unixfs.TFile, 3, 100)...)
	if err != nil {
		t.Fatalf("the DAG: %v", err)
	}
	root := dagbomb.Root(blocks)
	car, err := message.EncodeCAR([]cid.Cid{root}, blocks)
	if err != nil {
		t.Fatalf("CAR: %v", err)
	}
	e.storeCAR(ctx, car)

	base := "/ipfs/" + root.String()
	for _, method := range []string{"GET", "HEAD"} {
		rctx, cancel := context.WithTimeout(ctx, barrenWait)
		code, body, _, err := e.gatewayDo(rctx, method, base, nil)
		cancel()
		switch {
		case err != nil:
			t.Errorf("%s %s (a file of 10⁶ empty nodes): %v; want a 422 within %s", method, base, err, barrenWait)
		case code != http.StatusUnprocessableEntity:
			t.Errorf("%s %s (a file of 10⁶ empty nodes): HTTP %d, want 422: %.200s", method, base, code, body)
		case method == "GET" && !strings.Contains(string(body), "no bytes"):
			t.Errorf("%s %s: the 422 says %q, not that the file's nodes hold no bytes", method, base, body)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, barrenWait)
	defer cancel()
	code, body, _, err := e.gatewayDo(rctx, "GET", base+"?format=car", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s?format=car: HTTP %d, %v; want 200", base, code, err)
	}
	res, err := carscan.Scan(bytes.NewReader(body))
	if err != nil || len(res.Blocks) != len(blocks) {
		t.Errorf("GET %s?format=car: %v, %d blocks; want a CAR of its %d blocks, each once", base, err, len(res.Blocks), len(blocks))
	}
}
