package archive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/mem"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
)

// TestScan: Scan finds every message in blob storage alone (two segments and a message
// file), each with its bytes; blob.ErrStop ends it early; a flipped byte in a segment or a
// file is ErrCorrupt naming the message.
func TestScan(t *testing.T) {
	ctx := context.Background()
	blobs := mem.New()
	want := map[cid.Cid][]byte{}
	file, err := New(blobs, Options{}).Put(ctx, message.CodecRaw, []byte("a message file of its own"))
	if err != nil {
		t.Fatal(err)
	}
	want[file] = []byte("a message file of its own")
	a := New(blobs, Options{Outbox: kvmem.New()})
	defer a.Close()
	for round := range 2 {
		for i, size := range []int{0, 1, 300, 70000} {
			data := bytes.Repeat([]byte{byte('a' + i + 4*round)}, size)
			c, err := a.Put(ctx, message.CodecCAR, data)
			if err != nil {
				t.Fatal(err)
			}
			want[c] = data
		}
		if _, err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := map[cid.Cid][]byte{}
	if err := Scan(ctx, blobs, func(msg cid.Cid, data []byte) error {
		got[msg] = append([]byte(nil), data...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("scanned %d messages, want %d", len(got), len(want))
	}
	for c, data := range want {
		if !bytes.Equal(got[c], data) {
			t.Errorf("message %s: %d bytes, want %d", c, len(got[c]), len(data))
		}
	}
	n := 0
	if err := Scan(ctx, blobs, func(cid.Cid, []byte) error { n++; return blob.ErrStop }); err != nil || n != 1 {
		t.Fatalf("stopped scan: %d messages, %v", n, err)
	}

	// Flip the last byte of the first segment: its last message no longer matches.
	var segKey string
	var last cid.Cid
	if err := blobs.List(ctx, SegmentPrefix, func(info blob.Info) error { segKey = info.Key; return blob.ErrStop }); err != nil {
		t.Fatal(err)
	}
	if err := scanSegmentKey(ctx, blobs, segKey, func(msg cid.Cid) { last = msg }); err != nil {
		t.Fatal(err)
	}
	corrupt(t, blobs, segKey)
	err = Scan(ctx, blobs, func(cid.Cid, []byte) error { return nil })
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), last.String()) {
		t.Fatalf("corrupt segment: %v, want ErrCorrupt naming %s", err, last)
	}
	// A corrupt message file is named too.
	blobs2 := mem.New()
	f2, err := New(blobs2, Options{}).Put(ctx, message.CodecRaw, []byte("kept whole"))
	if err != nil {
		t.Fatal(err)
	}
	corrupt(t, blobs2, WorkflowKey(f2))
	err = Scan(ctx, blobs2, func(cid.Cid, []byte) error { return nil })
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), f2.String()) {
		t.Fatalf("corrupt file: %v, want ErrCorrupt naming %s", err, f2)
	}
	// A truncated segment is corrupt, not a panic.
	blobs3 := mem.New()
	if err := blobs3.Put(ctx, SegmentPrefix+file.String(), bytes.NewReader([]byte{0x05, 1, 2}), blob.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	if err := Scan(ctx, blobs3, func(cid.Cid, []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated segment: %v, want ErrCorrupt", err)
	}
}

func scanSegmentKey(ctx context.Context, blobs blob.Store, key string, fn func(cid.Cid)) error {
	seg, err := cid.Decode(strings.TrimPrefix(key, SegmentPrefix))
	if err != nil {
		return err
	}
	data, err := readBlob(ctx, blobs, key, maxSegmentSize)
	if err != nil {
		return err
	}
	return scanSegment(seg, data, func(c cid.Cid, _ []byte) error { fn(c); return nil })
}

// corrupt flips the last byte of the blob at key.
func corrupt(t *testing.T, blobs blob.Store, key string) {
	t.Helper()
	rc, _, err := blobs.Get(context.Background(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 0xff
	if err := blobs.Put(context.Background(), key, bytes.NewReader(data), blob.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
}

// FuzzScanSegment: no bytes make the segment walk panic.
func FuzzScanSegment(f *testing.F) {
	data, seg, _, err := encodeSegment([]outboxMsg{{msg: message.Sum(message.CodecRaw, []byte("x")), data: []byte("x")}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte{0x05, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = scanSegment(seg, b, func(cid.Cid, []byte) error { return nil })
	})
}
