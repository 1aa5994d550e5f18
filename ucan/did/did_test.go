package did_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mr-tron/base58"

	"github.com/w3dag/w3dag/ucan/did"
)

// The UCAN spec fixture principals (fixtures/ucan/delegation.json).
var fixturePrincipals = []struct{ name, key, did string }{
	{"alice", "gCa9UfZv+yI5/rvUIt21DaGI7EZJlzFO1uDc5AyJ30c6/w==", "did:key:z6MkgGykN9ARNFjEzowVq4mLP2kL4NsyAaDGXeJFQ5qE1bfg"},
	{"bob", "gCZfj9+RzU2U518TMBNK/fjdGQz34sB4iKE6z+9lQDpCIQ==", "did:key:z6MkmT9j6fVZqzXV8u2wVVSu49gYSRYGSQnduWXF6foAJrqz"},
	{"carol", "gCZC43QGw7ZvYQuKTtBwBy+tdjYrKf0hXU3dd+J0HON5dw==", "did:key:z6MkmJceVoQSHs45cReEXoLtWm1wosCG8RLxfKwhxoqzoTkC"},
}

func TestFixturePrivateKeys(t *testing.T) {
	for _, p := range fixturePrincipals {
		t.Run(p.name, func(t *testing.T) {
			s, err := did.DecodePrivateKey(p.key)
			if err != nil {
				t.Fatal(err)
			}
			if s.DID() != p.did {
				t.Fatalf("DID = %s, want %s", s.DID(), p.did)
			}
			enc, err := did.EncodePrivateKey(s)
			if err != nil {
				t.Fatal(err)
			}
			if enc != p.key {
				t.Fatalf("EncodePrivateKey = %s, want %s", enc, p.key)
			}
		})
	}
}

func TestSignVerifyAllKeyTypes(t *testing.T) {
	gens := map[string]struct {
		gen    func() (did.Signer, error)
		prefix string
		header []byte
	}{
		"Ed25519":   {did.GenerateEd25519, "did:key:z6Mk", []byte{0x34, 0x01, 0xed, 0x01, 0xed, 0x01, 0x13, 0x71}},
		"P-256":     {did.GenerateP256, "did:key:zDn", []byte{0x34, 0x01, 0xec, 0x01, 0x80, 0x24, 0x12, 0x71}},
		"secp256k1": {did.GenerateSecp256k1, "did:key:zQ3s", []byte{0x34, 0x01, 0xec, 0x01, 0xe7, 0x01, 0x12, 0x71}},
	}
	for name, g := range gens {
		t.Run(name, func(t *testing.T) {
			s, err := g.gen()
			if err != nil {
				t.Fatal(err)
			}
			if got := s.DID(); len(got) < len(g.prefix) || got[:len(g.prefix)] != g.prefix {
				t.Fatalf("DID %s lacks prefix %s", got, g.prefix)
			}
			if !bytes.Equal(s.VarsigHeader(), g.header) {
				t.Fatalf("VarsigHeader = %x, want %x", s.VarsigHeader(), g.header)
			}
			msg := []byte("hello ucan")
			sig, err := s.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(sig) != 64 {
				t.Fatalf("signature is %d bytes", len(sig))
			}
			v, err := did.Parse(s.DID())
			if err != nil {
				t.Fatal(err)
			}
			if v.DID() != s.DID() {
				t.Fatalf("Parse(%s).DID() = %s", s.DID(), v.DID())
			}
			if !v.Verify(msg, sig) {
				t.Fatal("valid signature rejected")
			}
			if v.Verify([]byte("hello ucaN"), sig) {
				t.Fatal("signature accepted for another message")
			}
			bad := append([]byte(nil), sig...)
			bad[10] ^= 1
			if v.Verify(msg, bad) {
				t.Fatal("tampered signature accepted")
			}
			if v.Verify(msg, sig[:63]) {
				t.Fatal("short signature accepted")
			}
			if v.Verify(msg, make([]byte, 64)) {
				t.Fatal("all-zero signature accepted")
			}
			// Private keys round-trip through the text form.
			enc, err := did.EncodePrivateKey(s)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := did.DecodePrivateKey(enc)
			if err != nil {
				t.Fatal(err)
			}
			if s2.DID() != s.DID() {
				t.Fatalf("decoded key DID %s, want %s", s2.DID(), s.DID())
			}
		})
	}
}

func TestParseFragmentAndCache(t *testing.T) {
	d := fixturePrincipals[0].did
	a, err := did.Parse(d)
	if err != nil {
		t.Fatal(err)
	}
	b, err := did.Parse(d + "#key-1")
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("Parse did not return the cached verifier")
	}
	if !did.Equal(d, d+"#x") || did.Equal(d, fixturePrincipals[1].did) {
		t.Fatal("Equal ignores fragments only")
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", did.ErrInvalidDID},
		{"did:web", "did:web:example.com", did.ErrInvalidDID},
		{"not base58btc", "did:key:z0OIl", did.ErrInvalidDID},
		{"short ed25519", keyDID(0xed, 0x01, 31), did.ErrInvalidDID},
		{"long ed25519", keyDID(0xed, 0x01, 33), did.ErrInvalidDID},
		{"uncompressed P-256", keyDID(0x80, 0x24, 65), did.ErrInvalidDID},
		{"bad secp256k1 point", keyDID(0xe7, 0x01, 33), did.ErrInvalidDID},
		{"no key bytes", keyDID(0xed, 0x01, 0), did.ErrInvalidDID},
		{"rsa", "did:key:z4MXj1wBzi9jUstyPMS4jQqB6KdJaiatPkAtVtGc6bQEQEEsKTic4G7Rou3iBf9vPmT5dbkm9qsZsuVNjq8HCuW1w24nhBFGkRE4cd2Uf2tfrB3N7h4mnyPp1BF3ZttHTYv3DLUPi1zMdkULiow3M1GfXkoC6DoxDUm1jmN6GBj22SjVsr6dxezRVQc7aj9TxE7JLbMH1wh5X3kA58H3DFW8rnYMakFGbca5CB2Jf6CnGQZmL7o5uJAdTwXfy2iiiyPxXEGerMhHwhjTA1mKYobyk2CpeEcmvynADfNZ5MBvcCS7m3XkFCMNUYBS9NQ3fze6vMSUPsNa6GVYmKx2x6JrdEjCk3qRMMmyjnjCMfR4pXbRMZa3i", did.ErrInvalidDID},
		{"unsupported codec", "did:key:z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc", did.ErrUnsupportedKey},
		{"bad P-256 point", keyDID(0x80, 0x24, 33), did.ErrInvalidDID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := did.Parse(tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("Parse(%q) err = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

// keyDID renders a did:key with a two-byte multicodec prefix and n key bytes 0x02 0xff 0xff…,
// which is never a valid compressed point (x ≥ field prime).
func keyDID(c0, c1 byte, n int) string {
	b := []byte{c0, c1}
	for i := 0; i < n; i++ {
		if i == 0 {
			b = append(b, 0x02)
		} else {
			b = append(b, 0xff)
		}
	}
	return "did:key:z" + base58.Encode(b)
}

func TestDecodePrivateKeyRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not base64":     "!!!",
		"short seed":     "gCZC43QGw7ZvYQuKTtBwBy+tdjYrKf0hXU3dd+J0HON5",
		"unknown codec":  "7QFC43QGw7ZvYQuKTtBwBy+tdjYrKf0hXU3dd+J0HON5dw==",
		"empty":          "",
		"zero secp256k1": "gSYAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := did.DecodePrivateKey(in); err == nil {
				t.Fatalf("DecodePrivateKey(%q) succeeded", in)
			}
		})
	}
}

func TestKeyFile(t *testing.T) {
	s, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agent.key")
	if err := did.WriteKeyFile(path, s); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if err := did.WriteKeyFile(path, s); !errors.Is(err, did.ErrKeyFileExists) {
		t.Fatalf("second WriteKeyFile err = %v, want ErrKeyFileExists", err)
	}
	got, err := did.ReadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.DID() != s.DID() {
		t.Fatalf("ReadKeyFile DID %s, want %s", got.DID(), s.DID())
	}
	big := filepath.Join(t.TempDir(), "big.key")
	if err := os.WriteFile(big, bytes.Repeat([]byte("A"), did.MaxKeyFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := did.ReadKeyFile(big); !errors.Is(err, did.ErrInvalidPrivateKey) {
		t.Fatalf("oversized key file err = %v", err)
	}
	if _, err := did.ReadKeyFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing key file read")
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range fixturePrincipals {
		f.Add(p.did)
	}
	f.Add("did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169")
	f.Add("did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := did.Parse(s)
		if err != nil {
			return
		}
		if !did.Equal(v.DID(), s) {
			t.Fatalf("Parse(%q).DID() = %q", s, v.DID())
		}
	})
}
