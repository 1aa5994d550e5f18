package blobtest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/w3dag/w3dag/blob"
)

func testBatch(t *testing.T, st blob.Store) {
	b, ok := st.(blob.Batcher)
	if !ok {
		t.Skip("store does not implement blob.Batcher")
	}
	ctx := ctxT(t)
	var items []blob.BatchItem
	for i := range 20 {
		data := randomBytes(uint64(100+i), 100+i*37)
		items = append(items, blob.BatchItem{
			Key:  fmt.Sprintf("batch/m%02d/m%02d", i, i),
			Data: data,
			Opts: exact(data),
		})
	}
	if err := b.PutBatch(ctx, items); err != nil {
		t.Fatalf("PutBatch: %v", err)
	}
	for _, it := range items {
		got, info := mustGet(t, st, it.Key, nil)
		if !bytes.Equal(got, it.Data) || info.Size != int64(len(it.Data)) {
			t.Fatalf("%s: got %d bytes (info %d), want %d", it.Key, len(got), info.Size, len(it.Data))
		}
	}
	// The store keeps none of the items' bytes once PutBatch returns: overwriting them
	// changes nothing stored (blob.Batcher promises this; callers reuse their buffers).
	want := make([][]byte, len(items))
	for i, it := range items {
		want[i] = bytes.Clone(it.Data)
		for j := range it.Data {
			it.Data[j] = 0xAA
		}
	}
	for i, it := range items {
		if got, _ := mustGet(t, st, it.Key, nil); !bytes.Equal(got, want[i]) {
			t.Fatalf("%s: stored bytes changed when the caller overwrote its buffer after PutBatch", it.Key)
		}
		copy(it.Data, want[i])
	}
	// Writing the batch again is harmless (content-addressed writers retry whole batches).
	if err := b.PutBatch(ctx, items); err != nil {
		t.Fatalf("PutBatch again: %v", err)
	}
	// An item whose bytes do not match its digest fails the batch and is not stored.
	bad := randomBytes(7, 64)
	err := b.PutBatch(ctx, []blob.BatchItem{
		{Key: "batch/good", Data: bad, Opts: blob.PutOptions{Size: 64, SHA256: digest(bad)}},
		{Key: "batch/bad", Data: bad, Opts: blob.PutOptions{Size: 64, SHA256: digest([]byte("other"))}},
	})
	if !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("PutBatch with a wrong digest: %v, want ErrDigestMismatch", err)
	}
	if _, err := st.Stat(ctx, "batch/bad"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat of the mismatched item: %v, want ErrNotFound", err)
	}
	if err := b.PutBatch(ctx, []blob.BatchItem{{Key: "../escape", Data: bad, Opts: blob.PutOptions{Size: 64}}}); !errors.Is(err, blob.ErrInvalidKey) {
		t.Fatalf("PutBatch with an invalid key: %v, want ErrInvalidKey", err)
	}
}
