package archive

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/message"
)

func TestSchemas(t *testing.T) {
	ctx := context.Background()
	blobs := mem.New()
	a := New(blobs, Options{})
	sys, pins := []byte("type System struct {}"), []byte("type Pin struct { root Link }")
	names := []string{"system.ipldsch", "pins.ipldsch"}
	first, err := a.PutSchemas(ctx, 0, names, [][]byte{sys, pins})
	if err != nil {
		t.Fatal(err)
	}
	// The same sources at a later start: nothing new recorded.
	again, err := a.PutSchemas(ctx, 5, names, [][]byte{sys, pins})
	if err != nil || again.After != 0 {
		t.Fatalf("restart with the same schema: %+v, %v", again, err)
	}
	// Another extension: a new set.
	if _, err := a.PutSchemas(ctx, 9, names[:1], [][]byte{sys}); err != nil {
		t.Fatal(err)
	}
	sets, err := a.SchemaSets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 2 || sets[0].After != 0 || sets[1].After != 9 || len(sets[0].Sources) != 2 || len(sets[1].Sources) != 1 {
		t.Fatalf("sets %+v", sets)
	}
	for i, s := range sets[0].Sources {
		if s.Name != names[i] || !s.CID.Equals(first.Sources[i].CID) || !s.CID.Equals(message.Sum(message.CodecRaw, [][]byte{sys, pins}[i])) {
			t.Fatalf("source %d: %+v", i, s)
		}
		text, err := a.Schema(ctx, s.CID)
		if err != nil || string(text) != string([][]byte{sys, pins}[i]) {
			t.Fatalf("Schema(%s) = %q, %v", s.CID, text, err)
		}
		if !blob.ValidKey(SchemaKey(s.CID)) {
			t.Fatalf("invalid key %s", SchemaKey(s.CID))
		}
	}
	// Broken inputs.
	missing := message.Sum(message.CodecRaw, []byte("never archived"))
	if _, err := a.Schema(ctx, missing); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing schema: %v", err)
	}
	c := sets[0].Sources[1].CID
	if err := blobs.Put(ctx, SchemaKey(c), strings.NewReader("tampered"), blob.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Schema(ctx, c); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered schema: %v", err)
	}
	if err := blobs.Put(ctx, SchemaSetPrefix+"00000000000000000011.json", strings.NewReader("{not json"), blob.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SchemaSets(ctx); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "00000000000000000011") {
		t.Fatalf("corrupt set: %v", err)
	}
	if _, err := a.PutSchemas(ctx, 1, names, [][]byte{sys}); !errors.Is(err, ErrWrite) {
		t.Fatalf("names and texts of different lengths: %v", err)
	}
}

// FuzzSchemaSets reads arbitrary bytes as a schema set record: a set or ErrCorrupt, never
// a panic.
func FuzzSchemaSets(f *testing.F) {
	f.Add([]byte(`{"after":3,"sources":[{"name":"system.ipldsch","cid":"bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"}]}`))
	f.Add([]byte(`{"after":-1}`))
	f.Add([]byte(`{"sources":[{"cid":"not a cid"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		blobs := mem.New()
		if err := blobs.Put(ctx, SchemaSetPrefix+"00000000000000000001.json", bytes.NewReader(data), blob.PutOptions{Size: -1}); err != nil {
			t.Fatal(err)
		}
		sets, err := New(blobs, Options{}).SchemaSets(ctx)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			return
		}
		if len(sets) != 1 {
			t.Fatalf("%d sets from one record", len(sets))
		}
		for _, s := range sets[0].Sources {
			if !s.CID.Defined() {
				t.Fatalf("a source without a CID: %+v", s)
			}
		}
	})
}
