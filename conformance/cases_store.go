package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/message"
)

// caseStoreUpload stores a CAR (put → pending with an upload URL, wrong bytes refused, the
// right bytes accepted, put again → done), lists it as the shard of an upload (an unknown
// shard is refused), and checks that bytes already held make another space's store entry
// done at once.
func caseStoreUpload(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	car, carCID, root := randomCAR(t, 1024)
	storePath := e.abs("store/" + carCID.String())
	value := storeInput(carCID, len(car))

	r := e.put(ctx, storePath, value)
	wantStatus(t, "store put", r, "pending")
	pending := r.State()
	upload := func(body []byte) int {
		t.Helper()
		return e.upload(ctx, pending, body)
	}
	bad := bytes.Clone(car)
	bad[len(bad)-1] ^= 0xff
	if code := upload(bad); code < 400 || code >= 500 {
		t.Errorf("upload of bytes that are not the CAR: HTTP %d, want 4xx", code)
	}
	if code := upload(car); code/100 != 2 {
		t.Fatalf("upload of the CAR: HTTP %d", code)
	}
	r = e.put(ctx, storePath, value)
	wantStatus(t, "store put after the upload", r, "done")

	rootPath := e.abs("upload/" + root.String())
	u := e.put(ctx, rootPath, uploadInput(root, carCID))
	wantStatus(t, "upload with the stored shard", u, "done")
	missing := message.Sum(message.CodecCAR, []byte("never stored"))
	if _, err := e.c.Put(ctx, rootPath, uploadInput(root, missing)); !isReceiptError(err, "ShardNotFound") {
		t.Errorf("upload with a shard that is not stored: %v, want a ShardNotFound error receipt", err)
	}

	// Another space storing the same bytes: held already, done at once.
	other := setup(ctx, t, target)
	r2 := other.put(ctx, other.abs("store/"+carCID.String()), value)
	wantStatus(t, "store put of bytes already held", r2, "done")
}

// upload PUTs body to the upload URL (with its headers) of the pending store state and
// returns the HTTP status.
func (e *env) upload(ctx context.Context, state datamodel.Node, body []byte) int {
	e.t.Helper()
	code, err := e.tryUpload(ctx, state, body)
	if err != nil {
		e.t.Fatalf("%v", err)
	}
	return code
}

// tryUpload is upload returning its error instead of ending the case (for goroutines).
func (e *env) tryUpload(ctx context.Context, state datamodel.Node, body []byte) (int, error) {
	url := str(lookupNode(state, "url"))
	if url == "" {
		return 0, fmt.Errorf("pending state %s has no url", show(state))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("upload request: %v", err)
	}
	if hn := lookupNode(state, "headers"); hn != nil {
		it := hn.MapIterator()
		for it != nil && !it.Done() {
			k, v, err := it.Next()
			if err != nil {
				return 0, fmt.Errorf("headers: %v", err)
			}
			req.Header.Set(str(k), str(v))
		}
	}
	req.ContentLength = int64(len(body))
	resp, err := e.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("PUT %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func storeInput(link cid.Cid, size int) datamodel.Node {
	return fluent.MustBuildMap(basicnode.Prototype.Map, 2, func(ma fluent.MapAssembler) {
		ma.AssembleEntry("link").AssignLink(cidlink.Link{Cid: link})
		ma.AssembleEntry("size").AssignInt(int64(size))
	})
}

func uploadInput(root cid.Cid, shards ...cid.Cid) datamodel.Node {
	return fluent.MustBuildMap(basicnode.Prototype.Map, 2, func(ma fluent.MapAssembler) {
		ma.AssembleEntry("root").AssignLink(cidlink.Link{Cid: root})
		ma.AssembleEntry("shards").CreateList(int64(len(shards)), func(la fluent.ListAssembler) {
			for _, s := range shards {
				la.AssembleValue().AssignLink(cidlink.Link{Cid: s})
			}
		})
	})
}

func lookupNode(n datamodel.Node, key string) datamodel.Node {
	if n == nil || n.Kind() != datamodel.Kind_Map {
		return nil
	}
	v, err := n.LookupByString(key)
	if err != nil {
		return nil
	}
	return v
}

func str(n datamodel.Node) string {
	if n == nil {
		return ""
	}
	s, _ := n.AsString()
	return s
}

// storeCAR stores car in the case's space as a store entry (put, upload when pending,
// put again) and fails the case unless the entry ends done.
func (e *env) storeCAR(ctx context.Context, car []byte) cid.Cid {
	t := e.t
	t.Helper()
	carCID := message.CID(car)
	p := e.abs("store/" + carCID.String())
	value := storeInput(carCID, len(car))
	r := e.put(ctx, p, value)
	if r.Status() == "pending" {
		if code := e.upload(ctx, r.State(), car); code/100 != 2 {
			t.Fatalf("upload of %s: HTTP %d", carCID, code)
		}
		r = e.put(ctx, p, value)
	}
	wantStatus(t, "store put", r, "done")
	return carCID
}

// randomCAR returns a CAR holding one raw block of n random bytes, the CAR's CID and the
// block's (the CAR's root).
func randomCAR(t T, n int) (car []byte, carCID, root cid.Cid) {
	t.Helper()
	payload := make([]byte, n)
	rand.Read(payload)
	blk := message.NewBlock(message.CodecRaw, payload)
	car, err := message.EncodeCAR([]cid.Cid{blk.CID}, []message.Block{blk})
	if err != nil {
		t.Fatalf("CAR: %v", err)
	}
	return car, message.CID(car), blk.CID
}
