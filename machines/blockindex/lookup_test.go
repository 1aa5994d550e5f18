package blockindex_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/machines/blockindex"
)

// memBlobs is a blob.Store of one blob held in memory; Get checks ranges as the backends do.
type memBlobs struct{ data []byte }

func (m *memBlobs) Put(context.Context, string, io.Reader, blob.PutOptions) error { return nil }
func (m *memBlobs) Stat(context.Context, string) (blob.Info, error)               { return blob.Info{}, nil }
func (m *memBlobs) Delete(context.Context, string) error                          { return nil }
func (m *memBlobs) List(context.Context, string, func(blob.Info) error) error     { return nil }
func (m *memBlobs) Get(_ context.Context, _ string, rng *blob.Range) (io.ReadCloser, blob.Info, error) {
	if rng == nil {
		return io.NopCloser(bytes.NewReader(m.data)), blob.Info{}, nil
	}
	if rng.Start < 0 || rng.End < rng.Start || rng.End >= int64(len(m.data)) {
		return nil, blob.Info{}, blob.ErrInvalidRange
	}
	return io.NopCloser(bytes.NewReader(m.data[rng.Start : rng.End+1])), blob.Info{}, nil
}

func rawCID(t *testing.T, data []byte) cid.Cid {
	t.Helper()
	mh, err := multihash.Sum(data, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, mh)
}

// TestReadBlock checks ReadBlock and ReadBlockInto, which ReadBlock calls with a buffer
// of its own.
func TestReadBlock(t *testing.T) {
	store := &memBlobs{data: []byte("....hello....")}
	car := rawCID(t, []byte("the car"))
	for _, tc := range []struct {
		name string
		c    cid.Cid
		loc  blockindex.Location
		want []byte
		err  error
	}{
		{"a block", rawCID(t, []byte("hello")), blockindex.Location{CAR: car, Offset: 4, Length: 5}, []byte("hello"), nil},
		// An empty file's raw leaf: no byte range names zero bytes, so nothing is read.
		{"an empty block", rawCID(t, nil), blockindex.Location{CAR: car, Offset: 13, Length: 0}, []byte{}, nil},
		{"bytes that are not the block", rawCID(t, []byte("world")), blockindex.Location{CAR: car, Offset: 4, Length: 5}, nil, blockindex.ErrCorrupt},
		{"an empty location for a non-empty block", rawCID(t, []byte("hello")), blockindex.Location{CAR: car, Offset: 4, Length: 0}, nil, blockindex.ErrCorrupt},
		{"outside the blob", rawCID(t, []byte("hello")), blockindex.Location{CAR: car, Offset: 10, Length: 5}, nil, blob.ErrInvalidRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf := make([]byte, 8) // ReadBlockInto reads into it
			for name, read := range map[string]func() ([]byte, error){
				"ReadBlock": func() ([]byte, error) {
					return blockindex.ReadBlock(context.Background(), store, "k", tc.loc, tc.c)
				},
				"ReadBlockInto": func() ([]byte, error) {
					return blockindex.ReadBlockInto(context.Background(), store, "k", tc.loc, tc.c, buf)
				},
			} {
				got, err := read()
				if tc.err != nil {
					if !errors.Is(err, tc.err) {
						t.Fatalf("%s: error %v, want %v", name, err, tc.err)
					}
					continue
				}
				if err != nil || !bytes.Equal(got, tc.want) {
					t.Fatalf("%s: got %q, %v; want %q", name, got, err, tc.want)
				}
			}
		})
	}
}

// TestReadBlockIntoShortBuffer: a buffer shorter than the block is refused.
func TestReadBlockIntoShortBuffer(t *testing.T) {
	store := &memBlobs{data: []byte("....hello....")}
	loc := blockindex.Location{CAR: rawCID(t, []byte("the car")), Offset: 4, Length: 5}
	got, err := blockindex.ReadBlockInto(context.Background(), store, "k", loc, rawCID(t, []byte("hello")), make([]byte, 4))
	if err == nil || !strings.Contains(err.Error(), "4-byte buffer for a 5-byte block") {
		t.Fatalf("a 4-byte buffer for a 5-byte block: %q, %v; want an error saying so", got, err)
	}
}
