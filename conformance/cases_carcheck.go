package conformance

import (
	"context"
	"strings"

	"github.com/w3dag/w3dag/message"
)

// caseStoreOnlyCARs stores bytes that are the CID's but not a CAR, and a CAR with a
// corrupted block: each upload is refused with a 4xx, and the entry, once confirmed,
// ends failed with a reason naming what was wrong; it cannot be an upload's shard.
func caseStoreOnlyCARs(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	good, _, root := randomCAR(t, 512)
	corrupt := []byte(string(good))
	corrupt[len(corrupt)-1] ^= 0xff // the block's last byte: no longer its CID's
	for _, tc := range []struct {
		name, reason string
		data         []byte
	}{
		{"a text file", "not a CAR", []byte("# README\n\nThis is a text file, not a CAR.\n")},
		{"a corrupted CAR", "does not match its CID", corrupt},
	} {
		link := message.CID(tc.data)
		p := e.abs("store/" + link.String())
		value := storeInput(link, len(tc.data))
		r := e.put(ctx, p, value)
		wantStatus(t, "store put of "+tc.name, r, "pending")
		if code := e.upload(ctx, r.State(), tc.data); code < 400 || code >= 500 {
			t.Errorf("upload of %s: HTTP %d, want 4xx", tc.name, code)
		}
		r, err := e.c.Get(ctx, p)
		if err != nil {
			t.Fatalf("get %s: %v", p, err)
		}
		if r.Status() == "pending" {
			r = e.put(ctx, p, value) // the confirming put (S3); on fs the entry is failed already
		}
		if r.Status() != "failed" || !strings.Contains(str(lookupNode(r.State(), "reason")), tc.reason) {
			t.Errorf("%s: entry %q (state %s), want failed with a reason containing %q", tc.name, r.Status(), show(r.Ok), tc.reason)
		}
		if _, err := e.c.Put(ctx, e.abs("upload/"+root.String()), uploadInput(root, link)); !isReceiptError(err, "ShardNotFound") {
			t.Errorf("an upload naming %s as a shard: %v, want a ShardNotFound error receipt", tc.name, err)
		}
	}
}
