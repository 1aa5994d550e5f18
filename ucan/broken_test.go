package ucan

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/ucan/did"
)

var update = flag.Bool("update", false, "rewrite the generated files under testdata/")

// testSeed is the fixed Ed25519 seed of the key that signs the generated testdata tokens.
var testSeed = bytes.Repeat([]byte{7}, ed25519.SeedSize)

func testSigner(t testing.TB) did.Signer {
	s, err := did.Ed25519FromSeed(testSeed)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// field is one payload entry as raw CBOR bytes (key and value).
type field struct {
	k string
	v []byte
}

func cborText(s string) []byte {
	var e encoder
	e.text(s)
	return e.buf
}

func cborBytes(b []byte) []byte {
	var e encoder
	e.bytes(b)
	return e.buf
}

func cborInt(v int64) []byte {
	var e encoder
	e.int(v)
	return e.buf
}

// payloadMap encodes fields in the given order (no sorting).
func payloadMap(fields []field) []byte {
	var e encoder
	e.head(majMap, uint64(len(fields)))
	for _, f := range fields {
		e.text(f.k)
		e.buf = append(e.buf, f.v...)
	}
	return e.buf
}

// envelope wraps a payload: [sig, {"h": header, tag: payload}], signing the element-1 bytes.
func envelope(t testing.TB, header []byte, tag string, payload []byte) []byte {
	s := testSigner(t)
	var e encoder
	e.head(majMap, 2)
	e.text("h")
	e.bytes(header)
	e.text(tag)
	e.buf = append(e.buf, payload...)
	sig, err := s.Sign(e.buf)
	if err != nil {
		t.Fatal(err)
	}
	var env encoder
	env.head(majArray, 2)
	env.bytes(sig)
	return append(env.buf, e.buf...)
}

// goodDelegationFields returns a canonical delegation payload from the test signer to itself.
func goodDelegationFields(t testing.TB) []field {
	me := testSigner(t).DID()
	return []field{
		{"aud", cborText(me)},
		{"cmd", cborText("/dag/put")},
		{"exp", cborInt(1900000000)},
		{"iss", cborText(me)},
		{"pol", []byte{0x80}},
		{"sub", cborText(me)},
		{"nonce", cborBytes(bytes.Repeat([]byte{1}, 12))},
	}
}

func goodInvocationFields(t testing.TB) []field {
	me := testSigner(t).DID()
	return []field{
		{"cmd", cborText("/dag/get")},
		{"exp", []byte{0xf6}},
		{"iss", cborText(me)},
		{"prf", []byte{0x80}},
		{"sub", cborText(me)},
		{"args", append([]byte{0xa1}, append(cborText("path"), cborText("store/x")...)...)},
		{"nonce", cborBytes(nil)},
	}
}

func replace(fs []field, k string, v []byte) []field {
	out := append([]field(nil), fs...)
	for i := range out {
		if out[i].k == k {
			out[i].v = v
		}
	}
	return out
}

func drop(fs []field, k string) []field {
	var out []field
	for _, f := range fs {
		if f.k != k {
			out = append(out, f)
		}
	}
	return out
}

var ed25519Header = []byte{0x34, 0x01, 0xed, 0x01, 0xed, 0x01, 0x13, 0x71}

// brokenCase is a generated testdata file and what decoding (or verifying) it must give.
type brokenCase struct {
	name string
	gen  func(t testing.TB) []byte
	// decodeErr is the sentinel Decode must return; nil means Decode succeeds.
	decodeErr error
	// sigErr is set when Decode succeeds but VerifySignature must fail.
	sigErr bool
}

func dlg(t testing.TB, fs []field) []byte {
	return envelope(t, ed25519Header, TagDelegation, payloadMap(fs))
}

func inv(t testing.TB, fs []field) []byte {
	return envelope(t, ed25519Header, TagInvocation, payloadMap(fs))
}

var brokenCases = []brokenCase{
	{"good-delegation", func(t testing.TB) []byte { return dlg(t, goodDelegationFields(t)) }, nil, false},
	{"good-invocation", func(t testing.TB) []byte { return inv(t, goodInvocationFields(t)) }, nil, false},
	{"good-powerline-sub-absent", func(t testing.TB) []byte { return dlg(t, drop(goodDelegationFields(t), "sub")) }, nil, false},
	{"good-v0-varsig", func(t testing.TB) []byte {
		return envelope(t, []byte{0x34, 0xed, 0x01, 0x71}, TagDelegation, payloadMap(goodDelegationFields(t)))
	}, nil, false},
	{"unsorted-keys", func(t testing.TB) []byte {
		fs := goodDelegationFields(t)
		fs[0], fs[1] = fs[1], fs[0]
		return dlg(t, fs)
	}, ErrNonCanonical, false},
	{"keys-bytewise-not-length-first", func(t testing.TB) []byte {
		fs := goodDelegationFields(t)
		// "nonce" (5 bytes) before "pol" (3 bytes) is bytewise order, not DAG-CBOR order.
		return dlg(t, []field{fs[0], fs[1], fs[2], fs[3], fs[6], fs[4], fs[5]})
	}, ErrNonCanonical, false},
	{"duplicate-key", func(t testing.TB) []byte {
		fs := goodDelegationFields(t)
		return dlg(t, append(fs[:1:1], fs...))
	}, ErrMalformed, false},
	{"non-shortest-int", func(t testing.TB) []byte {
		return dlg(t, replace(goodDelegationFields(t), "exp", []byte{0x1b, 0, 0, 0, 0, 0x71, 0x3f, 0xb3, 0x00}))
	}, ErrNonCanonical, false},
	{"non-shortest-length", func(t testing.TB) []byte {
		return dlg(t, replace(goodDelegationFields(t), "cmd", append([]byte{0x78, 8}, "/dag/put"...)))
	}, ErrNonCanonical, false},
	{"indefinite-list", func(t testing.TB) []byte {
		return dlg(t, replace(goodDelegationFields(t), "pol", []byte{0x9f, 0xff}))
	}, ErrNonCanonical, false},
	{"float32", func(t testing.TB) []byte {
		args := append([]byte{0xa1}, cborText("n")...)
		args = append(args, 0xfa, 0x3f, 0x80, 0x00, 0x00)
		return inv(t, replace(goodInvocationFields(t), "args", args))
	}, ErrNonCanonical, false},
	{"nan", func(t testing.TB) []byte {
		args := append([]byte{0xa1}, cborText("n")...)
		args = append(args, 0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0)
		return inv(t, replace(goodInvocationFields(t), "args", args))
	}, ErrMalformed, false},
	{"tag-not-42", func(t testing.TB) []byte {
		args := append([]byte{0xa1}, cborText("t")...)
		args = append(args, 0xc1, 0x01)
		return inv(t, replace(goodInvocationFields(t), "args", args))
	}, ErrMalformed, false},
	{"undefined", func(t testing.TB) []byte {
		args := append(append([]byte{0xa1}, cborText("u")...), 0xf7)
		return inv(t, replace(goodInvocationFields(t), "args", args))
	}, ErrMalformed, false},
	{"invalid-utf8", func(t testing.TB) []byte {
		return dlg(t, replace(goodDelegationFields(t), "cmd", []byte{0x63, '/', 0xff, 0xfe}))
	}, ErrMalformed, false},
	{"trailing-bytes", func(t testing.TB) []byte {
		return append(dlg(t, goodDelegationFields(t)), 0x00)
	}, ErrMalformed, false},
	{"truncated", func(t testing.TB) []byte {
		b := dlg(t, goodDelegationFields(t))
		return b[:len(b)-3]
	}, ErrMalformed, false},
	{"oversized", func(t testing.TB) []byte {
		meta := append([]byte{0xa1}, cborText("pad")...)
		meta = append(meta, cborBytes(make([]byte, MaxTokenSize))...)
		return dlg(t, append(goodDelegationFields(t)[:6:6], field{"meta", meta}, goodDelegationFields(t)[6]))
	}, ErrTooLarge, false},
	{"unknown-tag", func(t testing.TB) []byte {
		return envelope(t, ed25519Header, "ucan/dlg@0.9.0", payloadMap(goodDelegationFields(t)))
	}, ErrUnknownTag, false},
	{"unknown-field", func(t testing.TB) []byte {
		fs := goodDelegationFields(t)
		return dlg(t, append(fs[:6:6], field{"extra", cborInt(1)}, fs[6]))
	}, ErrUnknownField, false},
	{"missing-cmd", func(t testing.TB) []byte { return dlg(t, drop(goodDelegationFields(t), "cmd")) }, ErrMissingField, false},
	{"missing-args", func(t testing.TB) []byte { return inv(t, drop(goodInvocationFields(t), "args")) }, ErrMissingField, false},
	// The spec says a nonce MAY be any value: short and empty nonces are valid.
	{"good-8-byte-nonce", func(t testing.TB) []byte {
		return dlg(t, replace(goodDelegationFields(t), "nonce", cborBytes([]byte("8 bytes!"))))
	}, nil, false},
	{"good-empty-nonce", func(t testing.TB) []byte {
		return dlg(t, replace(goodDelegationFields(t), "nonce", cborBytes(nil)))
	}, nil, false},
	{"exp-beyond-2pow53", func(t testing.TB) []byte {
		return dlg(t, replace(goodDelegationFields(t), "exp", cborInt(1<<53)))
	}, ErrInvalidField, false},
	{"bad-command", func(t testing.TB) []byte {
		return dlg(t, replace(goodDelegationFields(t), "cmd", cborText("/Dag/put/")))
	}, ErrInvalidField, false},
	{"args-not-map", func(t testing.TB) []byte {
		return inv(t, replace(goodInvocationFields(t), "args", []byte{0x80}))
	}, ErrMalformed, false},
	{"invocation-sub-null", func(t testing.TB) []byte {
		return inv(t, replace(goodInvocationFields(t), "sub", []byte{0xf6}))
	}, ErrMalformed, false},
	{"prf-not-links", func(t testing.TB) []byte {
		return inv(t, replace(goodInvocationFields(t), "prf", append([]byte{0x81}, cborText("bafy")...)))
	}, ErrMalformed, false},
	{"unsupported-varsig", func(t testing.TB) []byte {
		return envelope(t, []byte{0x34, 0x01, 0xec, 0x01, 0x81, 0x24, 0x20, 0x71}, TagDelegation, payloadMap(goodDelegationFields(t)))
	}, ErrInvalidField, false},
	{"varsig-key-mismatch", func(t testing.TB) []byte {
		return envelope(t, []byte{0x34, 0x01, 0xec, 0x01, 0x80, 0x24, 0x12, 0x71}, TagDelegation, payloadMap(goodDelegationFields(t)))
	}, nil, true},
	{"bad-signature", func(t testing.TB) []byte {
		b := dlg(t, goodDelegationFields(t))
		b[10] ^= 0x01
		return b
	}, nil, true},
	{"signature-wrong-length", func(t testing.TB) []byte {
		b := dlg(t, goodDelegationFields(t))
		// Re-wrap element 1 with a 63-byte signature.
		var e encoder
		e.head(majArray, 2)
		e.bytes(b[3 : 3+63])
		return append(e.buf, b[3+64:]...)
	}, nil, true},
	{"issuer-not-signer", func(t testing.TB) []byte {
		return dlg(t, replace(goodDelegationFields(t), "iss", cborText("did:key:z6MkmT9j6fVZqzXV8u2wVVSu49gYSRYGSQnduWXF6foAJrqz")))
	}, nil, true},
	{"envelope-three-elements", func(t testing.TB) []byte {
		b := dlg(t, goodDelegationFields(t))
		b[0] = 0x83
		return append(b, 0xf6)
	}, ErrMalformed, false},
	{"no-h", func(t testing.TB) []byte {
		var e encoder
		e.head(majMap, 2)
		e.text("x")
		e.bytes(ed25519Header)
		e.text(TagDelegation)
		e.buf = append(e.buf, payloadMap(goodDelegationFields(t))...)
		var env encoder
		env.head(majArray, 2)
		env.bytes(make([]byte, 64))
		return append(env.buf, e.buf...)
	}, ErrMalformed, false},
	{"not-cbor-array", func(t testing.TB) []byte { return []byte("hello") }, ErrMalformed, false},
	{"empty", func(t testing.TB) []byte { return nil }, ErrMalformed, false},
}

// TestBrokenInputs decodes every generated file under testdata/tokens and checks the outcome.
// Run with -update to regenerate the files.
func TestBrokenInputs(t *testing.T) {
	dir := filepath.Join("testdata", "tokens")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range brokenCases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".cbor")
			if *update {
				if err := os.WriteFile(path, c.gen(t), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestBrokenInputs -update to generate)", err)
			}
			if !bytes.Equal(raw, c.gen(t)) {
				t.Fatalf("%s is stale (run go test -run TestBrokenInputs -update)", path)
			}
			tok, err := Decode(raw)
			if c.decodeErr != nil {
				t.Log(err)
				if !errors.Is(err, c.decodeErr) {
					t.Fatalf("Decode err = %v, want %v", err, c.decodeErr)
				}
				if tok != nil {
					t.Fatal("Decode returned a token with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			err = tok.VerifySignature()
			if c.sigErr {
				var ue *Error
				if !errors.As(err, &ue) || ue.Name != InvalidSignature {
					t.Fatalf("VerifySignature err = %v, want InvalidSignature", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifySignature: %v", err)
			}
			if strings.HasPrefix(c.name, "good-") && !tok.CID.Equals(cborCID(raw)) {
				t.Fatal("CID is not the hash of the raw bytes")
			}
		})
	}
}

func readTestToken(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", "tokens", name+".cbor"))
}
