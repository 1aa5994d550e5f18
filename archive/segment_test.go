package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/blob"
	blobfs "github.com/w3dag/w3dag/blob/fs"
	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/blob/s3"
	"github.com/w3dag/w3dag/kv"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
)

// segmentStores are the blob backends segments are tested on: mem, fs, and S3 when
// W3DAG_TEST_S3 names a server (as .ci/run sets it; the bucket must exist).
func segmentStores(t *testing.T) map[string]func(t *testing.T) blob.Store {
	stores := map[string]func(t *testing.T) blob.Store{
		"mem": func(*testing.T) blob.Store { return mem.New() },
		"fs": func(t *testing.T) blob.Store {
			st, err := blobfs.Open(t.TempDir(), blobfs.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
	if raw := os.Getenv("W3DAG_TEST_S3"); raw != "" {
		stores["s3"] = func(t *testing.T) blob.Store {
			opts, err := s3.ParseURL(raw)
			if err != nil {
				t.Fatalf("W3DAG_TEST_S3: %v", err)
			}
			opts.Prefix = fmt.Sprintf("archivetest-%d", time.Now().UnixNano())
			st, err := s3.Open(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
	}
	return stores
}

// TestSegments: a round of messages of assorted sizes becomes one segment, a CAR v1 whose
// blocks are the messages under their own CIDs; each is read back by its byte range; a
// message file written before segments (or without an outbox) stays readable and listed.
func TestSegments(t *testing.T) {
	for name, open := range segmentStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			blobs := open(t)
			legacy, err := New(blobs, Options{}).Put(ctx, message.CodecRaw, []byte("a message file of its own"))
			if err != nil {
				t.Fatal(err)
			}
			a := New(blobs, Options{Outbox: kvmem.New()})
			defer a.Close()
			want := map[cid.Cid][]byte{}
			for i, size := range []int{0, 1, 127, 128, 300, 70000} {
				data := bytes.Repeat([]byte{byte('a' + i)}, size)
				codec := uint64(message.CodecCAR)
				if i%2 == 1 {
					codec = message.CodecRaw
				}
				c, err := a.Put(ctx, codec, data)
				if err != nil {
					t.Fatal(err)
				}
				want[c] = data
			}
			if n, err := a.Flush(ctx); err != nil || n != len(want) {
				t.Fatalf("Flush = %d, %v", n, err)
			}
			var segs []blob.Info
			if err := blobs.List(ctx, SegmentPrefix, func(i blob.Info) error { segs = append(segs, i); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(segs) != 1 {
				t.Fatalf("%d segments, want 1", len(segs))
			}
			rc, _, err := blobs.Get(ctx, segs[0].Key, nil)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(rc)
			rc.Close()
			if got := SegmentKey(message.Sum(message.CodecCAR, buf.Bytes())); got != segs[0].Key {
				t.Errorf("segment key %s, want %s (the CID of its bytes)", segs[0].Key, got)
			}
			_, blocks, err := message.DecodeCAR(buf.Bytes(), MaxMessageSize)
			if err != nil {
				t.Fatalf("segment is not a CAR: %v", err)
			}
			if len(blocks) != len(want) {
				t.Errorf("segment holds %d blocks, want %d", len(blocks), len(want))
			}
			for _, b := range blocks {
				if !bytes.Equal(want[b.CID], b.Data) {
					t.Errorf("segment block %s is not the message", b.CID)
				}
			}
			for c, data := range want {
				got, err := a.Get(ctx, c)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("Get %s = %d bytes, %v; want %d bytes", c, len(got), err, len(data))
				}
			}
			if got, err := a.Get(ctx, legacy); err != nil || string(got) != "a message file of its own" {
				t.Fatalf("Get of a message file = %q, %v", got, err)
			}
			if ok, err := a.Has(ctx, legacy); !ok || err != nil {
				t.Fatalf("Has of a message file = %v, %v", ok, err)
			}
			listed := map[cid.Cid]bool{}
			if err := a.Messages(ctx, func(c cid.Cid) error { listed[c] = true; return nil }); err != nil {
				t.Fatal(err)
			}
			if len(listed) != len(want)+1 || !listed[legacy] {
				t.Errorf("Messages listed %d (file listed: %v), want %d", len(listed), listed[legacy], len(want)+1)
			}
			if _, err := a.Get(ctx, message.CID([]byte("never archived"))); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get of an unknown message: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestSegmentCorrupt: a segment whose bytes changed, a missing segment and a garbled
// index value are ErrCorrupt, never wrong bytes.
func TestSegmentCorrupt(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, blobs blob.Store, store kv.Store, msg cid.Cid)
	}{
		{"tampered segment", func(t *testing.T, blobs blob.Store, _ kv.Store, _ cid.Cid) {
			rewriteSegments(t, blobs, func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("payload"), []byte("PAYLOAD")) })
		}},
		{"truncated segment", func(t *testing.T, blobs blob.Store, _ kv.Store, _ cid.Cid) {
			rewriteSegments(t, blobs, func(b []byte) []byte { return b[:len(b)-3] })
		}},
		{"missing segment", func(t *testing.T, blobs blob.Store, _ kv.Store, _ cid.Cid) {
			rewriteSegments(t, blobs, nil)
		}},
		{"garbled index", func(t *testing.T, _ blob.Store, store kv.Store, msg cid.Cid) {
			if err := store.Update(ctx, func(tx kv.Tx) error { return tx.Put(indexKey(msg), []byte{0xff}) }); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blobs, store := mem.New(), kvmem.New()
			a := New(blobs, Options{Outbox: store})
			defer a.Close()
			msg, err := a.Put(ctx, message.CodecCAR, []byte("the payload"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, blobs, store, msg)
			if data, err := a.Get(ctx, msg); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Get = %q, %v; want ErrCorrupt", data, err)
			}
		})
	}
}

// rewriteSegments replaces every segment's bytes with change(bytes), or deletes it when
// change is nil.
func rewriteSegments(t *testing.T, blobs blob.Store, change func([]byte) []byte) {
	t.Helper()
	ctx := context.Background()
	var keys []string
	if err := blobs.List(ctx, SegmentPrefix, func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		rc, _, err := blobs.Get(ctx, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(rc)
		rc.Close()
		if err := blobs.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
		if change != nil {
			b := change(buf.Bytes())
			if err := blobs.Put(ctx, k, bytes.NewReader(b), blob.PutOptions{Size: int64(len(b))}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// FuzzLocation: index values decode to a location or ErrCorrupt, and what decodes
// encodes back to the same bytes.
func FuzzLocation(f *testing.F) {
	seg := message.CID([]byte("segment"))
	f.Add(location{Segment: seg, Offset: 59, Length: 11}.encode())
	f.Add([]byte{0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		l, err := decodeLocation(v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if l.Offset < 0 || l.Length < 0 || l.Length > MaxMessageSize {
			t.Fatalf("decoded out-of-bounds location %+v", l)
		}
	})
}
