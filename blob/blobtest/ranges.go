package blobtest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/w3dag/w3dag/blob"
)

func testRanges(t *testing.T, st blob.Store) {
	data := randomBytes(10, 100)
	mustPut(t, st, "r", data)
	mustPut(t, st, "r0", nil)
	good := []struct {
		rng        blob.Range
		start, end int
	}{
		{blob.Range{Start: 0, End: 9}, 0, 10},
		{blob.Range{Start: 90, End: 99}, 90, 100},
		{blob.Range{Start: 10, End: -1}, 10, 100},
		{blob.Range{Start: 99, End: 99}, 99, 100},
		{blob.Range{Start: 0, End: -1}, 0, 100},
		{blob.Range{Start: 42, End: 42}, 42, 43},
	}
	for _, tc := range good {
		rng := tc.rng
		got, info := mustGet(t, st, "r", &rng)
		if !bytes.Equal(got, data[tc.start:tc.end]) {
			t.Errorf("Get range %+v = %d bytes, want bytes [%d,%d)", tc.rng, len(got), tc.start, tc.end)
		}
		if info.Size != int64(len(data)) || info.Key != "r" {
			t.Errorf("Get range %+v info = %+v, want the whole blob's (size %d)", tc.rng, info, len(data))
		}
	}
	bad := []struct {
		key string
		rng blob.Range
	}{
		{"r", blob.Range{Start: 100, End: -1}},
		{"r", blob.Range{Start: 100, End: 100}},
		{"r", blob.Range{Start: 0, End: 100}},
		{"r", blob.Range{Start: 90, End: 1000}},
		{"r", blob.Range{Start: 50, End: 40}},
		{"r", blob.Range{Start: -1, End: 5}},
		{"r", blob.Range{Start: 200, End: 300}},
		{"r0", blob.Range{Start: 0, End: -1}},
		{"r0", blob.Range{Start: 0, End: 0}},
	}
	for _, tc := range bad {
		rng := tc.rng
		if err := getErr(ctxT(t), st, tc.key, &rng); !errors.Is(err, blob.ErrInvalidRange) {
			t.Errorf("Get(%q) range %+v error = %v, want ErrInvalidRange", tc.key, tc.rng, err)
		}
	}
}
