package container

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode. Whatever Decode accepts must
// re-encode, under the same header, to something that decodes to the same
// set of tokens, sorted and without duplicates.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"testdata/good", "testdata/bad"} {
		files, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			if len(data) < 4<<10 { // the gzip bombs make the fuzzer crawl; TestDecodeBadFiles covers them
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tokens, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnknownHeader) {
				t.Fatalf("error %v wraps none of the sentinels", err)
			}
			return
		}
		if len(tokens) > MaxTokens {
			t.Fatalf("%d tokens accepted", len(tokens))
		}
		again, err := Encode(data[0], tokens)
		if err != nil {
			t.Fatalf("re-encoding %d decoded tokens: %v", len(tokens), err)
		}
		back, err := Decode(again)
		if err != nil {
			t.Fatalf("decoding what Encode wrote: %v", err)
		}
		want := slices.Clone(tokens)
		slices.SortFunc(want, bytes.Compare)
		want = slices.CompactFunc(want, bytes.Equal)
		if !slices.EqualFunc(back, want, bytes.Equal) {
			t.Fatalf("round trip changed the tokens")
		}
	})
}
