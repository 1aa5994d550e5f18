package main

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/store"
	commp "github.com/w3dag/w3dag/piece"
	"github.com/w3dag/w3dag/receipts"
)

// TestUploadPiece: with --upload-piece the delivery's compute task carries the piece the
// upload endpoint computed (so the task does not read the CAR back); without it the task
// has no piece and computes it from the stored CAR. Either way the piece ends computed.
func TestUploadPiece(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run("upload-piece="+strconv.FormatBool(on), func(t *testing.T) {
			ctx := context.Background()
			svc := newHTTPServiceConfig(t, func(c *serveConfig) { c.uploadPiece = on })
			c, space := agentClient(t, svc.url, svc.service.DID())
			data := make([]byte, 5000)
			fillCAR(t, data)
			link := carOf(data)
			value, err := storeValue(link, int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			p := "/" + space + "/store/" + link.String()
			r, err := c.Put(ctx, p, value)
			if err != nil || r.Status() != store.StatusPending {
				t.Fatalf("put: %v %v", r, err)
			}
			req, err := uploadRequest(r.State())
			if err != nil {
				t.Fatal(err)
			}
			if err := putBytes(ctx, http.DefaultClient, req, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			dp, err := dag.ParsePath(p)
			if err != nil {
				t.Fatal(err)
			}
			e, err := svc.engine.Entry(ctx, dp)
			if err != nil || e.Status != store.StatusDone {
				t.Fatalf("store entry after the upload: %v %v", e, err)
			}
			tok, err := svc.engine.Receipt(ctx, e.Head)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := receipts.Parse(tok)
			if err != nil {
				t.Fatal(err)
			}
			var task cid.Cid
			for _, f := range rc.Fx {
				inv, err := svc.engine.Receipt(ctx, f)
				if err == nil && inv.Invocation != nil && inv.Invocation.Command == piece.ComputeCommand {
					task = f
					_, err := inv.Invocation.Args.LookupByString("piece")
					if carries := err == nil; carries != on {
						t.Errorf("the compute task carries a piece: %v, want %v", carries, on)
					}
				}
			}
			if !task.Defined() {
				t.Fatalf("the done receipt's fx %v hold no compute task", rc.Fx)
			}
			want, err := commp.Compute(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			pp := piece.Path(svc.service.DID(), link)
			waitStatus(t, svc.engine, pp, piece.StatusComputed)
			if got := pieceCID(t, svc.engine, pp); got != want.CID() {
				t.Errorf("computed piece %s, want %s", got, want.CID())
			}
		})
	}
}
