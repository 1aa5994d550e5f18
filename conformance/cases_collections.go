package conformance

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multibase"

	"github.com/w3dag/w3dag/client"
)

// refusalWait bounds how long a case waits for a request it expects to be refused at once.
const refusalWait = 5 * time.Second

// caseUnknownCollection: a put to a collection the space does not have fails with an
// UnknownCollection error receipt whose message names the collections there are (every
// space has store and upload), and writes nothing; a watch of it is 404.
func caseUnknownCollection(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	key, v := e.value(0)
	rel := "no-such-collection/" + key
	r := e.invoke(ctx, e.space.DID(), "/dag/put", putArgs(rel, v), e.root)
	wantErrorName(t, "put to an unknown collection", r, "UnknownCollection")
	for _, name := range []string{"store", "upload"} {
		if !strings.Contains(r.Error.Message, name) {
			t.Errorf("UnknownCollection message %q does not name the space collection %q", r.Error.Message, name)
		}
	}
	if _, err := e.c.Get(ctx, "/"+e.space.DID()+"/"+rel); !isReceiptError(err, "UnknownCollection") {
		t.Errorf("get from an unknown collection: %v, want an UnknownCollection error receipt", err)
	}
	// A service that accepts the watch would send nothing: give it a few seconds.
	wctx, cancel := context.WithTimeout(ctx, refusalWait)
	defer cancel()
	err := e.c.Watch(wctx, "/"+e.space.DID()+"/no-such-collection", "", func(client.Event) error { return client.ErrStop })
	if !isHTTPStatus(err, http.StatusNotFound) {
		t.Errorf("watch of an unknown collection: %v, want 404", err)
	}
}

// caseCanonicalKey: a CID key written in another base names the same entry as its
// canonical string (DESIGN §2: paths are canonical); receipts carry the canonical path.
func caseCanonicalKey(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	key, v := uploadValue(0)
	c, err := cid.Decode(key)
	if err != nil {
		t.Fatalf("upload key %q: %v", key, err)
	}
	b58, err := c.StringOfBase(multibase.Base58BTC)
	if err != nil {
		t.Fatalf("base58 form of %s: %v", c, err)
	}
	canonical := "/" + e.space.DID() + "/upload/" + c.String()
	r := e.put(ctx, "/"+e.space.DID()+"/upload/"+b58, v)
	wantStatus(t, "put with a base58 key", r, "done")
	if r.Path != canonical {
		t.Errorf("put receipt path %q, want the canonical %q", r.Path, canonical)
	}
	g, err := e.c.Get(ctx, canonical)
	if err != nil {
		t.Fatalf("get by the canonical key: %v", err)
	}
	if !g.Head().Equals(r.CID) {
		t.Errorf("get by the canonical key names head %s, want the put's %s", g.Head(), r.CID)
	}
	bad := e.invoke(ctx, e.space.DID(), "/dag/put", putArgs("upload/not-a-cid", v), e.root)
	wantErrorName(t, "upload key that is not a CID", bad, "InvalidPath")
}
