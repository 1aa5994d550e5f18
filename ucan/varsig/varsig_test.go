package varsig_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/w3dag/w3dag/ucan/varsig"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		alg varsig.Algorithm
		hex string
	}{
		{varsig.Ed25519, "3401ed01ed011371"},
		{varsig.ES256, "3401ec0180241271"},
		{varsig.ES256K, "3401ec01e7011271"},
	}
	for _, tt := range tests {
		t.Run(tt.alg.String(), func(t *testing.T) {
			h, err := varsig.Encode(tt.alg)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(h); got != tt.hex {
				t.Fatalf("Encode = %s, want %s", got, tt.hex)
			}
			dec, err := varsig.Decode(h)
			if err != nil {
				t.Fatal(err)
			}
			if dec.Algorithm != tt.alg || dec.Version != 1 || dec.Encoding != varsig.EncodingDAGCBOR {
				t.Fatalf("Decode = %+v", dec)
			}
		})
	}
}

func TestEncodeReturnsFreshSlice(t *testing.T) {
	a := varsig.MustEncode(varsig.Ed25519)
	a[0] = 0
	if b := varsig.MustEncode(varsig.Ed25519); b[0] != varsig.Prefix {
		t.Fatal("Encode shares its backing array with callers")
	}
	if _, err := varsig.Encode(varsig.Algorithm(99)); !errors.Is(err, varsig.ErrUnsupported) {
		t.Fatalf("Encode(99) err = %v, want ErrUnsupported", err)
	}
}

func TestDecodeV0(t *testing.T) {
	for _, h := range []string{"34ed0171", "34ed011371"} {
		b, _ := hex.DecodeString(h)
		dec, err := varsig.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		if dec.Version != 0 || dec.Algorithm != varsig.Ed25519 {
			t.Fatalf("%s: %+v", h, dec)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want error
	}{
		{"empty", "", varsig.ErrMalformed},
		{"wrong prefix", "3501ed01ed011371", varsig.ErrMalformed},
		{"truncated", "3401ed01ed01", varsig.ErrMalformed},
		{"trailing byte", "3401ed01ed01137100", varsig.ErrMalformed},
		{"non-minimal varint", "3401ed8100ed011371", varsig.ErrMalformed},
		{"version 2", "3402ed01ed011371", varsig.ErrUnsupported},
		{"dag-json encoding", "3401ed01ed0113a902", varsig.ErrUnsupported},
		{"ES384", "3401ec0181242071", varsig.ErrUnsupported},
		{"Ed448", "3401ed0183241971", varsig.ErrUnsupported},
		{"RS256", "3401852412800271", varsig.ErrUnsupported},
		{"EdDSA with sha2-256", "3401ed01ed011271", varsig.ErrUnsupported},
		{"v0 ECDSA", "34ec0171", varsig.ErrUnsupported},
		{"v0 bad encoding", "34ed0172", varsig.ErrUnsupported},
		{"v0 trailing", "34ed017100", varsig.ErrMalformed},
		{"oversized", "3401" + string(bytes.Repeat([]byte("00"), 40)), varsig.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := varsig.Decode(b); !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%s) err = %v, want %v", tt.hex, err, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, h := range []string{"3401ed01ed011371", "3401ec0180241271", "3401ec01e7011271", "34ed0171", "34ed011371", "3401ed01ed0113"} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := varsig.Decode(b)
		if err != nil {
			return
		}
		if h.Version == 1 {
			enc, err := varsig.Encode(h.Algorithm)
			if err != nil || !bytes.Equal(enc, b) {
				t.Fatalf("v1 header %x decoded to %+v but re-encodes to %x (%v)", b, h, enc, err)
			}
		}
	})
}

func ExampleDecode() {
	h, err := varsig.Decode([]byte{0x34, 0x01, 0xed, 0x01, 0xed, 0x01, 0x13, 0x71})
	if err != nil {
		panic(err)
	}
	fmt.Println(h.Version, h.Algorithm)
	// Output: 1 Ed25519
}
