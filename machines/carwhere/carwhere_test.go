package carwhere

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// carCID is the CAR CID of data.
func carCID(t testing.TB, data string) cid.Cid {
	t.Helper()
	sum := sha256.Sum256([]byte(data))
	mh, err := multihash.Encode(sum[:], multihash.SHA2_256)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(CodecCAR, mh)
}

type env struct {
	e       *dag.Engine
	service did.Signer
	now     time.Time
}

func newEnv(t testing.TB) *env {
	t.Helper()
	svc, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	v := &env{service: svc, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	e, err := dag.Open(context.Background(), dag.Options{
		KV: mem.New(), Signer: svc, Schema: schema.MustLoad(),
		Collections: []dag.Collection{Machine{}.Collection()},
		Clock:       func() time.Time { return v.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	v.e = e
	return v
}

// record runs Record in its own transaction.
func (v *env) record(c cid.Cid, size int64, locs ...Location) (*Located, error) {
	var out *Located
	err := v.e.Update(context.Background(), func(tx *dag.Tx) error {
		inv, err := tx.Invoke("/test/locate", nil)
		if err != nil {
			return err
		}
		out, err = Record(tx, inv.CID, c, size, locs...)
		return err
	})
	return out, err
}

func fsLoc(c cid.Cid) Location { return FSLocator("/data/blobs", "http://svc.example/")(c) }

func TestRecord(t *testing.T) {
	ctx := context.Background()
	c := carCID(t, "car one")
	s3 := S3Locator(S3Bucket{Region: "eu-west-1", Bucket: "carpark-prod"})(c)
	tests := []struct {
		name    string
		size    int64
		locs    []Location
		wantErr error
		// want is the number of locations and whether the entry changed (a new head).
		wantLocs    int
		wantChanged bool
	}{
		{name: "first location creates the entry", size: 10, locs: []Location{fsLoc(c)}, wantLocs: 1, wantChanged: true},
		{name: "same location again changes nothing", size: 10, locs: []Location{fsLoc(c)}, wantLocs: 1},
		{name: "another backend is added", size: 10, locs: []Location{s3}, wantLocs: 2, wantChanged: true},
		{name: "a new URI of a known location is merged", size: 10, locs: []Location{{Backend: "fs", Bucket: "/data/blobs", Key: BlobKey(c), URIs: []string{"https://mirror.example/blob/" + c.String()}}}, wantLocs: 2, wantChanged: true},
		{name: "other size is a conflict", size: 11, locs: []Location{fsLoc(c)}, wantErr: ErrSizeConflict, wantLocs: 2},
		{name: "location without key", size: 10, locs: []Location{{Backend: "fs"}}, wantErr: ErrInvalidLocation, wantLocs: 2},
	}
	v := newEnv(t)
	var head cid.Cid
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.record(c, tc.size, tc.locs...)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Record: %v, want %v", err, tc.wantErr)
			}
			loc, e, err := Lookup(ctx, v.e, v.service.DID(), c)
			if err != nil {
				t.Fatal(err)
			}
			if len(loc.Locations) != tc.wantLocs {
				t.Fatalf("%d locations, want %d: %+v", len(loc.Locations), tc.wantLocs, loc.Locations)
			}
			if changed := !e.Head.Equals(head); changed != tc.wantChanged {
				t.Fatalf("changed = %v, want %v", changed, tc.wantChanged)
			}
			head = e.Head
			if loc.Size != 10 || e.Status != StatusLocated {
				t.Fatalf("size %d status %q", loc.Size, e.Status)
			}
			// The stored state is valid against the schema's state type.
			if err := v.e.Schema().Validate("CarwhereStatus", e.State); err != nil {
				t.Fatalf("state does not match the schema: %v", err)
			}
		})
	}
	loc, _, err := Lookup(ctx, v.e, v.service.DID(), c)
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Locations[0].URIs; len(got) != 2 || got[0] != "http://svc.example/blob/"+c.String() {
		t.Fatalf("fs URIs %q", got)
	}
	if got := loc.Locations[1].URIs[0]; got != "https://carpark-prod.s3.eu-west-1.amazonaws.com/"+BlobKey(c) {
		t.Fatalf("s3 URI %q", got)
	}
	if _, err := v.record(cid.NewCidV1(cid.DagCBOR, c.Hash()), 1, fsLoc(c)); !errors.Is(err, ErrNotCAR) {
		t.Fatalf("non-CAR CID: %v", err)
	}
	if _, _, err := Lookup(ctx, v.e, v.service.DID(), carCID(t, "unknown")); !errors.Is(err, dag.ErrNotFound) {
		t.Fatalf("Lookup of an unknown CAR: %v", err)
	}
}

func TestS3Locator(t *testing.T) {
	c := carCID(t, "x")
	key := BlobKey(c)
	tests := []struct {
		b       S3Bucket
		wantKey string
		wantURI string
	}{
		{S3Bucket{Bucket: "b"}, key, "https://b.s3.us-east-1.amazonaws.com/" + key},
		{S3Bucket{Bucket: "b", Region: "eu-central-1", Prefix: "/pre/"}, "pre/" + key, "https://b.s3.eu-central-1.amazonaws.com/pre/" + key},
		{S3Bucket{Endpoint: "http://127.0.0.1:7070/", Bucket: "b", PathStyle: true}, key, "http://127.0.0.1:7070/b/" + key},
		{S3Bucket{Endpoint: "https://acct.r2.cloudflarestorage.com", Bucket: "b"}, key, "https://b.acct.r2.cloudflarestorage.com/" + key},
	}
	for i, tc := range tests {
		loc := S3Locator(tc.b)(c)
		if loc.Key != tc.wantKey || len(loc.URIs) != 1 || loc.URIs[0] != tc.wantURI || loc.Backend != "s3" {
			t.Errorf("%d: %+v, want key %s uri %s", i, loc, tc.wantKey, tc.wantURI)
		}
	}
}

func TestBlobKey(t *testing.T) {
	c := carCID(t, "k")
	if got, want := BlobKey(c), "carpark/"+c.String()+"/"+c.String()+".car"; got != want {
		t.Fatalf("BlobKey = %s, want %s", got, want)
	}
}

func inputNode(size int64, uris ...string) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "size", qp.Int(size))
		qp.MapEntry(ma, "locations", qp.List(1, func(la datamodel.ListAssembler) {
			qp.ListEntry(la, qp.Map(3, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "backend", qp.String("fs"))
				qp.MapEntry(ma, "key", qp.String("carpark/x/x.car"))
				qp.MapEntry(ma, "uris", qp.List(int64(len(uris)), func(la datamodel.ListAssembler) {
					for _, u := range uris {
						qp.ListEntry(la, qp.String(u))
					}
				}))
			}))
		}))
	})
	return n
}

// TestMachine puts carwhere entries through the engine as the service and as a stranger.
func TestMachine(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t)
	c := carCID(t, "machine")
	p := Path(v.service.DID(), c)
	put := func(s did.Signer, value datamodel.Node) *dag.Result {
		t.Helper()
		args, _ := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "path", qp.String(p.Rel()))
			qp.MapEntry(ma, "value", qp.Node(value))
		})
		inv := &ucan.Invocation{Issuer: s.DID(), Subject: v.service.DID(), Command: "/dag/put", Args: args, Nonce: ucan.NewNonce()}
		tok, err := inv.Seal(s, ucan.SealOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.e.Put(ctx, tok, p, value)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := put(v.service, inputNode(5, "u1")); res.Err != nil || res.Entry.Status != StatusLocated {
		t.Fatalf("first put: %v", res.Err)
	}
	if res := put(v.service, inputNode(5, "u2")); res.Err != nil {
		t.Fatalf("merge put: %v", res.Err)
	}
	loc, _, err := Lookup(ctx, v.e, v.service.DID(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(loc.Locations) != 1 || fmt.Sprint(loc.Locations[0].URIs) != "[u1 u2]" {
		t.Fatalf("merged locations %+v", loc.Locations)
	}
	if res := put(v.service, inputNode(6, "u3")); dag.ErrorName(res.Err) != dag.ErrInvalidValue.Name {
		t.Fatalf("size change: %v", res.Err)
	}
	stranger, _ := did.GenerateEd25519()
	if res := put(stranger, inputNode(5, "evil")); !errors.Is(res.Err, dag.ErrReadOnlyCollection) {
		t.Fatalf("put by a stranger: %v", res.Err)
	}
	args, _ := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "path", qp.String(p.Rel())) })
	inv := &ucan.Invocation{Issuer: v.service.DID(), Subject: v.service.DID(), Command: "/dag/remove", Args: args, Nonce: ucan.NewNonce()}
	tok, err := inv.Seal(v.service, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.e.Remove(ctx, tok, p)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res.Err, dag.ErrInvalidTransition) {
		t.Fatalf("remove: %v", res.Err)
	}
}
