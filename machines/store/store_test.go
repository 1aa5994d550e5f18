package store

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/bolt"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

func wantStatus(t *testing.T, res *dag.Result, status string) {
	t.Helper()
	if res.Err != nil {
		t.Fatalf("want %s, got error receipt %v", status, res.Err)
	}
	if res.Entry == nil || res.Entry.Status != status {
		t.Fatalf("want %s, got entry %+v", status, res.Entry)
	}
}

// TestTransitions walks every transition of the store machine (DESIGN §4).
func TestTransitions(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, v *env)
	}{
		{"new CAR is pending with a working upload URL", func(t *testing.T, v *env) {
			s, c := newSpace(t), newCAR(t, "pending car")
			res := v.put(s, c, int64(len(c.data)))
			wantStatus(t, res, StatusPending)
			if err := v.e.Schema().Validate("StoreStatus", res.Entry.State); err != nil {
				t.Fatalf("pending state does not match the schema: %v", err)
			}
			u := pendingURL(t, res.Entry.State)
			if want := publicURL + "/blob/" + c.cid.String(); u.Scheme+"://"+u.Host+u.Path != want {
				t.Fatalf("upload URL %s, want %s?…", u, want)
			}
			h, _ := res.Entry.State.LookupByString("headers")
			cl, _ := h.LookupByString("Content-Length")
			if s, _ := cl.AsString(); s != strconv.Itoa(len(c.data)) {
				t.Fatalf("Content-Length header %q", s)
			}
			exp, _ := expiresOf(res.Entry.State)
			if want := v.clock.Now().Add(DefaultUploadURLTTL).UnixMilli(); exp != want {
				t.Fatalf("expires %d, want %d", exp, want)
			}
			if got := v.pendingSpacesOf(c.cid); len(got) != 1 || got[0] != s.DID() {
				t.Fatalf("pending index %v", got)
			}
			if err := v.upload(res.Entry.State, c.cid, c.data); err != nil {
				t.Fatalf("upload: %v", err)
			}
			if st := v.entry(s, c).Status; st != StatusDone {
				t.Fatalf("after upload: %s", st)
			}
			if got := v.pendingSpacesOf(c.cid); len(got) != 0 {
				t.Fatalf("pending index after delivery %v", got)
			}
			loc, _, err := carwhere.Lookup(ctx, v.e, v.service.DID(), c.cid)
			if err != nil || loc.Size != int64(len(c.data)) || len(loc.Locations) != 1 || loc.Locations[0].URIs[0] != publicURL+"/blob/"+c.cid.String() {
				t.Fatalf("carwhere %+v, %v", loc, err)
			}
			rc, info, err := v.b.Open(ctx, c.cid, &blob.Range{Start: 2, End: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			buf := make([]byte, 3)
			if _, err := rc.Read(buf); err != nil || string(buf) != string(c.data[2:5]) || info.Size != int64(len(c.data)) {
				t.Fatalf("ranged read %q %v %+v", buf, err, info)
			}
		}},
		{"bytes held by another space are done at once", func(t *testing.T, v *env) {
			a, b, c := newSpace(t), newSpace(t), newCAR(t, "shared car")
			res := v.put(a, c, int64(len(c.data)))
			if err := v.upload(res.Entry.State, c.cid, c.data); err != nil {
				t.Fatal(err)
			}
			res = v.put(b, c, int64(len(c.data)))
			wantStatus(t, res, StatusDone)
			if got := v.counters(b.DID(), b.DID()); got.size != int64(len(c.data)) || got.addTotal != 1 {
				t.Fatalf("space b counters %+v", got)
			}
		}},
		{"bytes at the blob key without a carwhere entry are done at once", func(t *testing.T, v *env) {
			s, c := newSpace(t), newCAR(t, "found car")
			if err := v.fs.Put(ctx, carwhere.BlobKey(c.cid), bytesReader(c.data), blob.PutOptions{Size: int64(len(c.data)), SHA256: digestOf(t, c)}); err != nil {
				t.Fatal(err)
			}
			wantStatus(t, v.put(s, c, int64(len(c.data))), StatusDone)
			if _, _, err := carwhere.Lookup(ctx, v.e, v.service.DID(), c.cid); err != nil {
				t.Fatalf("not located: %v", err)
			}
		}},
		{"size above the limit is TooLarge", func(t *testing.T, v *env) {
			s, c := newSpace(t), newCAR(t, "big")
			res := v.put(s, c, 1<<20+1)
			if dag.ErrorName(res.Err) != NameTooLarge {
				t.Fatalf("error %v, want %s", res.Err, NameTooLarge)
			}
			if _, err := v.e.Entry(ctx, storePath(s, c.cid)); !errors.Is(err, dag.ErrNotFound) {
				t.Fatalf("entry after TooLarge: %v", err)
			}
		}},
		{"size zero and wrong hash are InvalidValue", func(t *testing.T, v *env) {
			s, c := newSpace(t), newCAR(t, "zero")
			if res := v.put(s, c, 0); !errors.Is(res.Err, dag.ErrInvalidValue) {
				t.Fatalf("size 0: %v", res.Err)
			}
			mh, err := multihash.Sum(c.data, multihash.SHA2_512, -1)
			if err != nil {
				t.Fatal(err)
			}
			c512 := car{data: c.data, cid: cid.NewCidV1(collection.CodecCAR, mh)}
			if res := v.put(s, c512, int64(len(c.data))); !errors.Is(res.Err, dag.ErrInvalidValue) {
				t.Fatalf("sha2-512 CAR CID: %v", res.Err)
			}
		}},
		{"size that differs from the held bytes is InvalidValue", func(t *testing.T, v *env) {
			a, b, c := newSpace(t), newSpace(t), newCAR(t, "sized car")
			res := v.put(a, c, int64(len(c.data)))
			if err := v.upload(res.Entry.State, c.cid, c.data); err != nil {
				t.Fatal(err)
			}
			if res := v.put(b, c, int64(len(c.data))+1); !errors.Is(res.Err, dag.ErrInvalidValue) {
				t.Fatalf("wrong size: %v", res.Err)
			}
		}},
		{"wrong bytes are refused and the entry stays pending", func(t *testing.T, v *env) {
			s, c := newSpace(t), newCAR(t, "right bytes")
			res := v.put(s, c, int64(len(c.data)))
			wrong := []byte("wrong bytes")
			if err := v.upload(res.Entry.State, c.cid, wrong); !errors.Is(err, blob.ErrDigestMismatch) {
				t.Fatalf("upload of wrong bytes: %v", err)
			}
			if _, err := v.fs.Stat(ctx, carwhere.BlobKey(c.cid)); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("wrong bytes were stored: %v", err)
			}
			if st := v.entry(s, c).Status; st != StatusPending {
				t.Fatalf("after wrong bytes: %s", st)
			}
			// Short body: size mismatch.
			u := pendingURL(t, res.Entry.State)
			if err := v.b.Upload(ctx, c.cid, bytesReader(c.data[:3]), 3, u.Query()); !errors.Is(err, blob.ErrSizeMismatch) {
				t.Fatalf("short upload: %v", err)
			}
			// A forged signature, and the URL of another CID.
			q := u.Query()
			q.Set("sig", "00"+q.Get("sig")[2:])
			if err := v.b.Upload(ctx, c.cid, bytesReader(c.data), int64(len(c.data)), q); !errors.Is(err, blob.ErrPresignInvalid) {
				t.Fatalf("forged signature: %v", err)
			}
			other := newCAR(t, "right bytes!")
			if err := v.b.Upload(ctx, other.cid, bytesReader(c.data), int64(len(c.data)), u.Query()); !errors.Is(err, blob.ErrPresignInvalid) {
				t.Fatalf("URL of another CID: %v", err)
			}
			if st := v.entry(s, c).Status; st != StatusPending {
				t.Fatalf("after refused uploads: %s", st)
			}
		}},
		{"upload URL expires with the entry", func(t *testing.T, v *env) {
			s, c := newSpace(t), newCAR(t, "late car")
			res := v.put(s, c, int64(len(c.data)))
			v.clock.Add(DefaultUploadURLTTL)
			if err := v.upload(res.Entry.State, c.cid, c.data); !errors.Is(err, blob.ErrPresignExpired) {
				t.Fatalf("late upload: %v", err)
			}
		}},
		{"delivery moves the entries of two spaces to done", func(t *testing.T, v *env) {
			a, b, c := newSpace(t), newSpace(t), newCAR(t, "two spaces")
			ra := v.put(a, c, int64(len(c.data)))
			rb := v.put(b, c, int64(len(c.data)))
			wantStatus(t, ra, StatusPending)
			wantStatus(t, rb, StatusPending)
			if err := v.upload(rb.Entry.State, c.cid, c.data); err != nil {
				t.Fatal(err)
			}
			for _, s := range []interface{ DID() string }{a, b} {
				e, err := v.e.Entry(ctx, dag.Path{Subject: s.DID(), Collection: Name, Key: c.cid.String()})
				if err != nil || e.Status != StatusDone {
					t.Fatalf("%s: %+v %v", s.DID(), e, err)
				}
				// Each has its own receipt, caused by its own delivery invocation.
				tok, err := v.e.Receipt(ctx, e.Head)
				if err != nil {
					t.Fatal(err)
				}
				ranC, _ := tok.Invocation.Args.LookupByString("ran")
				l, _ := ranC.AsLink()
				ran, err := v.e.Receipt(ctx, cidOf(l))
				if err != nil || ran.Invocation.Command != DeliverCommand || ran.Invocation.Issuer != v.service.DID() {
					t.Fatalf("ran of %s: %+v %v", s.DID(), ran, err)
				}
			}
			if got := v.counters(a.DID(), v.service.DID()); got.addTotal != 2 || got.addSize != 2*int64(len(c.data)) {
				t.Fatalf("service counters %+v", got)
			}
		}},
		{"same-value put on pending checks arrival", func(t *testing.T, v *env) {
			s, c := newSpace(t), newCAR(t, "confirm me")
			res := v.put(s, c, int64(len(c.data)))
			again := v.put(s, c, int64(len(c.data)))
			wantStatus(t, again, StatusPending)
			if !again.Receipt.CID.Equals(res.Receipt.CID) {
				t.Fatal("a same-value put without the bytes made a new receipt")
			}
			// The bytes arrive without a delivery (as with S3).
			if err := v.fs.Put(ctx, carwhere.BlobKey(c.cid), bytesReader(c.data), blob.PutOptions{Size: int64(len(c.data)), SHA256: digestOf(t, c)}); err != nil {
				t.Fatal(err)
			}
			done := v.put(s, c, int64(len(c.data)))
			wantStatus(t, done, StatusDone)
			if got := v.counters(s.DID(), s.DID()); got.size != int64(len(c.data)) {
				t.Fatalf("usage %+v", got)
			}
			// And again: nothing changes, no double count.
			if r := v.put(s, c, int64(len(c.data))); !r.Receipt.CID.Equals(done.Receipt.CID) {
				t.Fatal("a same-value put on done made a new receipt")
			}
			if got := v.counters(s.DID(), s.DID()); got.size != int64(len(c.data)) || got.addTotal != 1 {
				t.Fatalf("counters after repeat %+v", got)
			}
		}},
		{"same-value put past the deadline expires", func(t *testing.T, v *env) {
			s, c := newSpace(t), newCAR(t, "forgotten")
			v.put(s, c, int64(len(c.data)))
			v.clock.Add(DefaultUploadURLTTL + time.Second)
			wantStatus(t, v.put(s, c, int64(len(c.data))), StatusExpired)
			if got := v.pendingSpacesOf(c.cid); len(got) != 0 {
				t.Fatalf("pending index %v", got)
			}
			// A put after expiry starts again with a new URL.
			wantStatus(t, v.put(s, c, int64(len(c.data))), StatusPending)
		}},
		{"a different value on a live entry is EntryExists", func(t *testing.T, v *env) {
			s, c := newSpace(t), newCAR(t, "exists")
			v.put(s, c, int64(len(c.data)))
			if res := v.put(s, c, int64(len(c.data))+1); !errors.Is(res.Err, dag.ErrEntryExists) {
				t.Fatalf("different size: %v", res.Err)
			}
		}},
		{"remove of done uncounts; re-store counts again", func(t *testing.T, v *env) {
			s, c := newSpace(t), newCAR(t, "remove me")
			n := int64(len(c.data))
			res := v.put(s, c, n)
			if err := v.upload(res.Entry.State, c.cid, c.data); err != nil {
				t.Fatal(err)
			}
			if got := v.counters(s.DID(), s.DID()); got != (counters{size: n, addTotal: 1, addSize: n}) {
				t.Fatalf("after done %+v", got)
			}
			wantStatus(t, v.remove(s, c), StatusRemoved)
			if got := v.counters(s.DID(), s.DID()); got != (counters{size: 0, addTotal: 1, addSize: n, remTotal: 1, remSize: n}) {
				t.Fatalf("after remove %+v", got)
			}
			if got := v.counters(s.DID(), v.service.DID()); got.remTotal != 1 || got.remSize != n {
				t.Fatalf("service after remove %+v", got)
			}
			// Removing again changes nothing.
			v.remove(s, c)
			if got := v.counters(s.DID(), s.DID()); got.remTotal != 1 || got.size != 0 {
				t.Fatalf("after second remove %+v", got)
			}
			// Re-store: the bytes are held, so done at once, counted again.
			again := v.put(s, c, n)
			wantStatus(t, again, StatusDone)
			if again.Receipt == nil {
				t.Fatal("no receipt")
			}
			if got := v.counters(s.DID(), s.DID()); got != (counters{size: n, addTotal: 2, addSize: 2 * n, remTotal: 1, remSize: n}) {
				t.Fatalf("after re-store %+v", got)
			}
		}},
		{"remove of pending leaves the index and its expiry does nothing", func(t *testing.T, v *env) {
			s, c := newSpace(t), newCAR(t, "never mind")
			v.put(s, c, int64(len(c.data)))
			wantStatus(t, v.remove(s, c), StatusRemoved)
			if got := v.pendingSpacesOf(c.cid); len(got) != 0 {
				t.Fatalf("pending index %v", got)
			}
			if got := v.counters(s.DID(), s.DID()); got != (counters{}) {
				t.Fatalf("counters %+v", got)
			}
			v.clock.Add(DefaultUploadURLTTL)
			if n, err := v.runner.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("RunOnce: %d %v", n, err)
			}
			if st := v.entry(s, c).Status; st != StatusRemoved {
				t.Fatalf("after expiry task: %s", st)
			}
		}},
		{"pending expires at its deadline, not before; done is left alone", func(t *testing.T, v *env) {
			a, b := newSpace(t), newSpace(t)
			late, ok := newCAR(t, "late"), newCAR(t, "on time")
			v.put(a, late, int64(len(late.data)))
			rb := v.put(b, ok, int64(len(ok.data)))
			if err := v.upload(rb.Entry.State, ok.cid, ok.data); err != nil {
				t.Fatal(err)
			}
			v.clock.Add(DefaultUploadURLTTL - time.Second)
			// Only the piece task of the done CAR is due.
			if n, err := v.runner.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("RunOnce before the deadline: %d tasks ran, %v", n, err)
			}
			if st := v.entry(a, late).Status; st != StatusPending {
				t.Fatalf("before the deadline: %s", st)
			}
			v.clock.Add(time.Second)
			if n, err := v.runner.RunOnce(ctx); err != nil || n != 2 {
				t.Fatalf("RunOnce at the deadline: %d %v", n, err)
			}
			if st := v.entry(a, late).Status; st != StatusExpired {
				t.Fatalf("at the deadline: %s", st)
			}
			if st := v.entry(b, ok).Status; st != StatusDone {
				t.Fatalf("done entry after its expiry task: %s", st)
			}
		}},
		{"a stale expiry task leaves a restarted entry pending", func(t *testing.T, v *env) {
			s, c := newSpace(t), newCAR(t, "restarted")
			v.put(s, c, int64(len(c.data)))
			v.remove(s, c)
			v.clock.Add(10 * time.Minute)
			wantStatus(t, v.put(s, c, int64(len(c.data))), StatusPending)
			v.clock.Add(DefaultUploadURLTTL - 10*time.Minute)
			if n, err := v.runner.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("RunOnce: %d %v", n, err)
			}
			if st := v.entry(s, c).Status; st != StatusPending {
				t.Fatalf("after the first life's expiry task: %s", st)
			}
			v.clock.Add(10 * time.Minute)
			if n, err := v.runner.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("RunOnce: %d %v", n, err)
			}
			if st := v.entry(s, c).Status; st != StatusExpired {
				t.Fatalf("after its own expiry task: %s", st)
			}
		}},
		{"delivery of a size other than the entry's fails it", func(t *testing.T, v *env) {
			s, c := newSpace(t), newCAR(t, "liar")
			v.put(s, c, int64(len(c.data))+5)
			ds, err := v.b.Deliver(ctx, c.cid, int64(len(c.data)))
			if err != nil || len(ds) != 1 {
				t.Fatalf("Deliver: %v %v", ds, err)
			}
			wantStatus(t, ds[0].Result, StatusFailed)
			if got := v.counters(s.DID(), s.DID()); got != (counters{}) {
				t.Fatalf("counters %+v", got)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newEnv(t, nil, "", nil, nil))
		})
	}
}

// TestExpiryAcrossRestart schedules an expiry, closes the engine, reopens it over the
// same bolt file after the deadline and checks that the task still expires the entry.
func TestExpiryAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "w3dag.db")
	st, err := bolt.Open(file, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := newEnv(t, st, dir, nil, nil)
	s, c := newSpace(t), newCAR(t, "restart")
	wantStatus(t, v.put(s, c, int64(len(c.data))), StatusPending)
	if err := v.e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	v.clock.Add(DefaultUploadURLTTL)
	st2, err := bolt.Open(file, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	v2 := newEnv(t, st2, dir, v.service, v.clock)
	if n, err := v2.runner.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce after restart: %d %v", n, err)
	}
	e := v2.entry(s, c)
	if e.Status != StatusExpired {
		t.Fatalf("after restart and deadline: %s", e.Status)
	}
	// The chain is intact: expired → pending, verified.
	n := 0
	if err := v2.e.Chain(ctx, e.Head, func(*ucan.Token, *receipts.Receipt) error { n++; return nil }); err != nil || n != 2 {
		t.Fatalf("chain: %d receipts, %v", n, err)
	}
}

// TestUploadErrors checks what Upload and Open say about CIDs that are not stored CARs.
func TestUploadErrors(t *testing.T) {
	v := newEnv(t, nil, "", nil, nil)
	c := newCAR(t, "x")
	raw := newCAR(t, "x")
	raw.cid = cidWithCodec(raw.cid, 0x55)
	if err := v.b.Upload(context.Background(), raw.cid, bytesReader(c.data), 1, nil); !errors.Is(err, ErrUnsupportedCID) {
		t.Fatalf("raw CID: %v", err)
	}
	if _, _, err := v.b.Open(context.Background(), raw.cid, nil); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open raw CID: %v", err)
	}
	if _, _, err := v.b.Open(context.Background(), c.cid, nil); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open missing CAR: %v", err)
	}
}
