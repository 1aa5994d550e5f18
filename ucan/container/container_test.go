package container

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var (
	tokA = []byte("\x82\x58\x40aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xa2token-a")
	tokB = []byte("\x82\x58\x40bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\xa2token-b")
	tokC = bytes.Repeat([]byte("c"), 300) // needs a two-byte length
)

func TestRoundTripEveryHeader(t *testing.T) {
	in := [][]byte{tokC, tokB, tokA, tokB}
	want := [][]byte{tokC, tokA, tokB} // "c" (0x63) sorts before "\x82"
	for _, h := range Headers {
		t.Run(fmt.Sprintf("0x%02X", h), func(t *testing.T) {
			data, err := Encode(h, in)
			if err != nil {
				t.Fatal(err)
			}
			if data[0] != h {
				t.Fatalf("header byte 0x%02x, want 0x%02x", data[0], h)
			}
			got, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("decoded %q, want %q", got, want)
			}
			again, err := Encode(h, got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, data) {
				t.Fatal("re-encoding the decoded tokens gave different bytes")
			}
		})
	}
	if !bytes.Equal(in[0], tokC) || !bytes.Equal(in[1], tokB) {
		t.Fatal("Encode modified its input slice")
	}
}

// TestRawLayout checks the exact DAG-CBOR bytes of a raw container.
func TestRawLayout(t *testing.T) {
	got, err := Encode(HeaderRaw, [][]byte{[]byte("yz"), []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("@\xa1\x66ctn-v1\x82\x41x\x42yz")
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x\nwant % x", got, want)
	}
	// Text encodings are printable.
	for _, h := range []byte{HeaderBase64, HeaderBase64URL, HeaderBase64Gzip, HeaderBase64URLGzip} {
		data, err := Encode(h, [][]byte{tokA})
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range data {
			if c < 0x21 || c > 0x7e {
				t.Fatalf("header 0x%02x: byte %d is 0x%02x, not printable", h, i, c)
			}
		}
		if h == HeaderBase64URL || h == HeaderBase64URLGzip {
			if bytes.ContainsAny(data, "=+/") {
				t.Fatalf("header 0x%02x: base64url output %q has padding or std characters", h, data)
			}
		}
	}
}

func TestSortedOutput(t *testing.T) {
	tokens := [][]byte{[]byte("b"), []byte("ab"), []byte("a"), []byte("\xff"), []byte("\x00z"), []byte("a")}
	data, err := Encode(HeaderRaw, tokens)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{[]byte("\x00z"), []byte("a"), []byte("ab"), []byte("b"), []byte("\xff")}
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		header byte
		tokens [][]byte
		want   error
	}{
		{"unknown header", 0x41, [][]byte{tokA}, ErrUnknownHeader},
		{"ucantone gzip header", 0x44, [][]byte{tokA}, ErrUnknownHeader},
		{"too many tokens", HeaderRaw, manyTokens(MaxTokens + 1), ErrTooLarge},
		{"too large", HeaderRawGzip, [][]byte{make([]byte, MaxDecodedSize)}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Encode(tt.header, tt.tokens)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Encode(HeaderRaw, [][]byte{tokA, {}}); err == nil {
		t.Fatal("an empty token was accepted")
	}
	if _, err := Encode(HeaderRaw, manyTokens(MaxTokens)); err != nil {
		t.Fatalf("MaxTokens tokens: %v", err)
	}
}

func manyTokens(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "token-%06d", i)
	}
	return out
}

func TestDecodeGoodFiles(t *testing.T) {
	want := map[string]int{
		"raw.ctn": 3, "base64.ctn": 3, "base64url.ctn": 3, "rawgzip.ctn": 3,
		"base64gzip.ctn": 3, "base64urlgzip.ctn": 3, "empty.ctn": 0, "duplicates.ctn": 2,
	}
	files, err := filepath.Glob("testdata/good/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Fatalf("testdata/good has %d files, the test knows %d", len(files), len(want))
	}
	var first [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n, ok := want[filepath.Base(f)]
		if !ok {
			t.Fatalf("%s: not in the test table", f)
		}
		tokens, err := Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(tokens) != n {
			t.Fatalf("%s: %d tokens, want %d", f, len(tokens), n)
		}
		if n == 3 {
			if first == nil {
				first = tokens
			} else if !slices.EqualFunc(first, tokens, bytes.Equal) {
				t.Fatalf("%s: tokens differ from the other encodings", f)
			}
		}
	}
}

func TestDecodeBadFiles(t *testing.T) {
	want := map[string]error{
		"empty-input.bin":            ErrInvalid,
		"unknown-header.bin":         ErrUnknownHeader,
		"ucantone-gzip-header.bin":   ErrUnknownHeader,
		"trailing-garbage.bin":       ErrInvalid,
		"wrong-key.bin":              ErrInvalid,
		"extra-key.bin":              ErrInvalid,
		"non-bytes-entry.bin":        ErrInvalid,
		"empty-token.bin":            ErrInvalid,
		"not-a-map.bin":              ErrInvalid,
		"value-not-array.bin":        ErrInvalid,
		"indefinite-array.bin":       ErrInvalid,
		"non-shortest-length.bin":    ErrInvalid,
		"truncated.bin":              ErrInvalid,
		"claims-many-tokens.bin":     ErrInvalid,
		"too-many-tokens.bin":        ErrTooLarge,
		"bad-base64.bin":             ErrInvalid,
		"base64-missing-padding.bin": ErrInvalid,
		"base64url-with-padding.bin": ErrInvalid,
		"gzip-not-gzip.bin":          ErrInvalid,
		"gzip-truncated.bin":         ErrInvalid,
		"gzip-trailing-garbage.bin":  ErrInvalid,
		"gzip-two-members.bin":       ErrInvalid,
		"gzip-bomb.bin":              ErrTooLarge,
		"gzip-bomb-base64.bin":       ErrTooLarge,
	}
	files, err := filepath.Glob("testdata/bad/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Fatalf("testdata/bad has %d files, the test knows %d", len(files), len(want))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("%s: not in the test table", f)
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			tokens, err := Decode(data)
			if !errors.Is(err, w) {
				t.Fatalf("Decode = %d tokens, %v; want an error wrapping %v", len(tokens), err, w)
			}
			t.Log(err)
		})
	}
}

func TestDecodeOversizeUncompressed(t *testing.T) {
	big := make([]byte, MaxDecodedSize)
	data := append([]byte{HeaderRaw}, marshal([][]byte{big})...)
	if _, err := Decode(data); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("raw: got %v, want ErrTooLarge", err)
	}
	b64 := append([]byte{HeaderBase64}, make([]byte, (MaxDecodedSize/3+1)*4)...)
	if _, err := Decode(b64); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("base64: got %v, want ErrTooLarge", err)
	}
}

func Example() {
	tokens := [][]byte{[]byte("second token"), []byte("first token")}
	data, err := Encode(HeaderBase64URL, tokens)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(data))
	decoded, err := Decode(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, tok := range decoded {
		fmt.Printf("%s\n", tok)
	}
	// Output:
	// CoWZjdG4tdjGCS2ZpcnN0IHRva2VuTHNlY29uZCB0b2tlbg
	// first token
	// second token
}
