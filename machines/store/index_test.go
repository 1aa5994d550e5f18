package store

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/machines/blockindex"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/message"
)

// indexed gives v's machine and upload endpoint a block index (the service's wiring).
func indexed(v *env) *blockindex.Index {
	idx := blockindex.New()
	v.m.o.Index, v.b.o.Index = idx, idx
	handlers := v.m.Handlers(v.e)
	maps.Copy(handlers, piece.Handlers(v.e, v.fs, nil))
	v.runner = task.NewRunner(v.e, handlers, task.RunnerOptions{Clock: v.clock.Now})
	return idx
}

// realCAR is a CAR of raw blocks, its root the first.
func realCAR(t testing.TB, blocks ...string) (car, []message.Block) {
	t.Helper()
	var bs []message.Block
	for _, b := range blocks {
		bs = append(bs, message.NewBlock(message.CodecRaw, []byte(b)))
	}
	data, err := message.EncodeCAR([]cid.Cid{bs[0].CID}, bs)
	if err != nil {
		t.Fatal(err)
	}
	return car{data: data, cid: message.CID(data)}, bs
}

func TestUploadIndexesBlocks(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t, nil, "", nil, nil)
	indexed(v)
	c, blocks := realCAR(t, "alpha", "beta", "gamma")
	s1, s2 := newSpace(t), newSpace(t)
	res := v.put(s1, c, int64(len(c.data)))
	if err := v.upload(res.Entry.State, c.cid, c.data); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, v.put(s2, c, int64(len(c.data))), StatusDone) // held: a second reference
	for _, b := range blocks {
		locs, err := blockindex.Locate(ctx, v.e, b.CID.Hash())
		if err != nil || len(locs) != 1 || locs[0].CAR != c.cid {
			t.Fatalf("%s: %v %v", b.CID, locs, err)
		}
		got, err := blockindex.ReadBlock(ctx, v.fs, carwhere.BlobKey(c.cid), locs[0], b.CID)
		if err != nil || !bytes.Equal(got, b.Data) {
			t.Fatalf("%s: read %q %v", b.CID, got, err)
		}
	}
	// Removing one done entry keeps the index; removing the last drops it.
	wantStatus(t, v.remove(s1, c), StatusRemoved)
	if _, err := blockindex.Locate(ctx, v.e, blocks[0].CID.Hash()); err != nil {
		t.Fatalf("after the first removal: %v", err)
	}
	wantStatus(t, v.remove(s2, c), StatusRemoved)
	for _, b := range blocks {
		if _, err := blockindex.Locate(ctx, v.e, b.CID.Hash()); !errors.Is(err, blockindex.ErrNotIndexed) {
			t.Fatalf("after the last removal %s: %v", b.CID, err)
		}
	}
	// Stored again with nothing staged: the build task indexes it from the blob.
	wantStatus(t, v.put(s1, c, int64(len(c.data))), StatusDone)
	if _, err := blockindex.Locate(ctx, v.e, blocks[1].CID.Hash()); !errors.Is(err, blockindex.ErrNotIndexed) {
		t.Fatalf("before the build task: %v", err)
	}
	if _, err := v.runner.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := blockindex.Blocks(ctx, v.e, c.cid); err != nil || len(got) != 3 {
		t.Fatalf("after the build task: %v %v", got, err)
	}
}

func TestUploadRefusesNonCARs(t *testing.T) {
	good, _ := realCAR(t, "one", "two")
	wrong := bytes.Clone(good.data)
	wrong[len(wrong)-1] ^= 1 // the last block's bytes no longer match its CID
	for _, tc := range []struct {
		name   string
		data   []byte
		reason string
	}{
		{"text", []byte("# a README, not a CAR\n"), "not a CAR"},
		{"truncated", good.data[:len(good.data)-2], "truncated CAR"},
		{"corrupted block", wrong, "block 1 ("},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, nil, "", nil, nil)
			indexed(v)
			c := car{data: tc.data, cid: message.CID(tc.data)}
			s := newSpace(t)
			res := v.put(s, c, int64(len(c.data)))
			err := v.upload(res.Entry.State, c.cid, c.data)
			if !carscan.Invalid(err) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("upload: %v, want %q", err, tc.reason)
			}
			e := v.entry(s, c)
			rn, _ := e.State.LookupByString("reason")
			reason, _ := rn.AsString()
			if e.Status != StatusFailed || !strings.Contains(reason, tc.reason) {
				t.Fatalf("entry %s %q", e.Status, reason)
			}
			if got := v.counters(s.DID(), s.DID()); got.size != 0 || got.addTotal != 0 {
				t.Fatalf("counted: %+v", got)
			}
			if _, err := v.fs.Stat(context.Background(), carwhere.BlobKey(c.cid)); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("stored anyway: %v", err)
			}
		})
	}

	// Bytes that are not the CID's leave the entry pending, whatever they are.
	v := newEnv(t, nil, "", nil, nil)
	indexed(v)
	s := newSpace(t)
	res := v.put(s, good, int64(len(good.data)))
	junk := bytes.Repeat([]byte("x"), len(good.data))
	if err := v.upload(res.Entry.State, good.cid, junk); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("junk upload: %v", err)
	}
	if st := v.entry(s, good).Status; st != StatusPending {
		t.Fatalf("after junk: %s", st)
	}
	if err := v.upload(res.Entry.State, good.cid, good.data); err != nil {
		t.Fatal(err)
	}
}
