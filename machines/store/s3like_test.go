package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/w3dag/w3dag/blob"
	blobmem "github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/blockindex"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan/did"
)

// s3Like is a blob store that behaves like blob/s3 towards the machine: it presigns
// (a URL that pins length and checksum) and checks uploads with CheckUpload, counting
// the checks.
type s3Like struct {
	*blobmem.Store
	mu     sync.Mutex
	checks int
}

func (s *s3Like) PresignPut(_ context.Context, key string, size int64, sum []byte, expires time.Time) (blob.Request, error) {
	return blob.Request{
		Method:  "PUT",
		URL:     "https://bucket.s3.eu-west-1.amazonaws.com/" + key + "?X-Amz-Signature=x",
		Headers: map[string]string{"Content-Length": strconv.FormatInt(size, 10), "x-amz-checksum-sha256": base64.StdEncoding.EncodeToString(sum)},
		Expires: expires,
	}, nil
}

func (s *s3Like) CheckUpload(ctx context.Context, key string, size int64, sum []byte) error {
	s.mu.Lock()
	s.checks++
	s.mu.Unlock()
	rc, info, err := s.Get(ctx, key, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	if info.Size != size {
		return fmt.Errorf("%w: %d bytes", blob.ErrSizeMismatch, info.Size)
	}
	var buf bytes.Buffer
	buf.ReadFrom(rc)
	if got := sha256.Sum256(buf.Bytes()); !bytes.Equal(got[:], sum) {
		return blob.ErrDigestMismatch
	}
	return nil
}

// TestS3Arrival checks the S3 way: the client uploads to the bucket directly, the service
// is told by a same-value put, which checks the object (CheckUpload) before done and
// records the bucket's location.
func TestS3Arrival(t *testing.T) {
	ctx := context.Background()
	svc, _ := did.GenerateEd25519()
	bs := &s3Like{Store: blobmem.New()}
	loc := carwhere.S3Locator(carwhere.S3Bucket{Region: "eu-west-1", Bucket: "bucket"})
	m, err := New(Options{Blobs: bs, Locator: loc})
	if err != nil {
		t.Fatal(err)
	}
	e, err := dag.Open(ctx, dag.Options{KV: mem.New(), Signer: svc, Schema: schema.MustLoad(), Collections: []dag.Collection{m.Collection(), metrics.Machine{}.Collection()}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	v := &env{t: t, e: e, service: svc}
	s, c := newSpace(t), newCAR(t, "s3 car")
	n := int64(len(c.data))

	res := v.put(s, c, n)
	wantStatus(t, res, StatusPending)
	h, _ := res.Entry.State.LookupByString("headers")
	if x, err := h.LookupByString("x-amz-checksum-sha256"); err != nil {
		t.Fatalf("no checksum header: %v", err)
	} else if got, _ := x.AsString(); got != base64.StdEncoding.EncodeToString(digestOf(t, c)) {
		t.Fatalf("checksum header %q", got)
	}
	// Blobs refuses uploads through the service: S3 clients upload to the bucket.
	b, err := NewBlobs(e, bs, BlobsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(ctx, c.cid, bytes.NewReader(c.data), n, nil); !errors.Is(err, blob.ErrNoPresign) {
		t.Fatalf("upload through the service: %v", err)
	}
	// Wrong bytes in the bucket: still pending.
	if err := bs.Put(ctx, carwhere.BlobKey(c.cid), bytes.NewReader(bytes.Repeat([]byte{1}, int(n))), blob.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, v.put(s, c, n), StatusPending)
	// The right bytes: the confirming put moves it to done.
	if err := bs.Put(ctx, carwhere.BlobKey(c.cid), bytes.NewReader(c.data), blob.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	before := bs.checks
	wantStatus(t, v.put(s, c, n), StatusDone)
	if bs.checks != before+1 {
		t.Fatalf("%d CheckUpload calls for the confirming put, want 1", bs.checks-before)
	}
	l, _, err := carwhere.Lookup(ctx, e, svc.DID(), c.cid)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Locations) != 1 || l.Locations[0].Backend != "s3" || l.Locations[0].URIs[0] != "https://bucket.s3.eu-west-1.amazonaws.com/"+carwhere.BlobKey(c.cid) {
		t.Fatalf("located %+v", l.Locations)
	}
	rc, _, err := b.Open(ctx, c.cid, nil)
	if err != nil {
		t.Fatalf("Open from the bucket: %v", err)
	}
	rc.Close()
}

func TestNewOptions(t *testing.T) {
	loc := carwhere.FSLocator("", "http://x")
	if _, err := New(Options{Locator: loc}); !errors.Is(err, ErrConfig) {
		t.Errorf("no Blobs: %v", err)
	}
	if _, err := New(Options{Blobs: blobmem.New(), Locator: loc}); !errors.Is(err, ErrConfig) {
		t.Errorf("a store that cannot presign: %v", err)
	}
	if _, err := New(Options{Blobs: &s3Like{Store: blobmem.New()}}); !errors.Is(err, ErrConfig) {
		t.Errorf("no Locator: %v", err)
	}
	if _, err := NewBlobs(nil, blobmem.New(), BlobsOptions{}); !errors.Is(err, ErrConfig) {
		t.Errorf("NewBlobs without an engine: %v", err)
	}
}

// TestS3OnlyCARs: with a block index, the confirming put scans bytes that arrived in the
// bucket: a CAR is done and indexed, anything else ends failed{reason}, uncounted.
func TestS3OnlyCARs(t *testing.T) {
	ctx := context.Background()
	svc, _ := did.GenerateEd25519()
	bs := &s3Like{Store: blobmem.New()}
	loc := carwhere.S3Locator(carwhere.S3Bucket{Region: "eu-west-1", Bucket: "bucket"})
	idx := blockindex.New()
	m, err := New(Options{Blobs: bs, Locator: loc, Index: idx})
	if err != nil {
		t.Fatal(err)
	}
	e, err := dag.Open(ctx, dag.Options{KV: mem.New(), Signer: svc, Schema: schema.MustLoad(), Collections: []dag.Collection{m.Collection(), carwhere.Machine{}.Collection(), metrics.Machine{}.Collection(), piece.Machine{}.Collection()}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	v := &env{t: t, e: e, service: svc}
	good, blocks := realCAR(t, "in the bucket")
	notCAR := newCAR(t, "a text file, not a CAR")
	for _, c := range []car{good, notCAR} {
		s := newSpace(t)
		n := int64(len(c.data))
		wantStatus(t, v.put(s, c, n), StatusPending)
		if err := bs.Put(ctx, carwhere.BlobKey(c.cid), bytes.NewReader(c.data), blob.PutOptions{Size: -1}); err != nil {
			t.Fatal(err)
		}
		res := v.put(s, c, n)
		if c.cid == good.cid {
			wantStatus(t, res, StatusDone)
			if _, err := blockindex.Locate(ctx, e, blocks[0].CID.Hash()); err != nil {
				t.Fatalf("the confirmed CAR is not indexed: %v", err)
			}
			continue
		}
		wantStatus(t, res, StatusFailed)
		rn, _ := res.Entry.State.LookupByString("reason")
		if reason, _ := rn.AsString(); !strings.HasPrefix(reason, "not a CAR") {
			t.Fatalf("reason %q", reason)
		}
	}
}
