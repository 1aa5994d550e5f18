package ucan

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagcbor"
)

// FuzzDecodeEnvelope feeds arbitrary bytes to Decode. Seeds: every file under
// testdata/tokens plus the corpus under testdata/fuzz/FuzzDecodeEnvelope. Properties: no
// panics; a decoded token's CID hashes its bytes; its payload re-encodes to the exact
// bytes received (canonical form), except where decoding tolerated an absent sub or exp.
func FuzzDecodeEnvelope(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "tokens", "*.cbor"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		tok, err := Decode(raw)
		if err != nil {
			if tok != nil {
				t.Fatal("token returned with an error")
			}
			return
		}
		if !bytes.Equal(tok.Raw, raw) || !tok.CID.Equals(cborCID(raw)) {
			t.Fatal("Raw or CID does not match the input")
		}
		_ = tok.VerifySignature()
		payload, err := tok.Payload()
		if err != nil {
			t.Fatalf("Payload of a decoded token: %v", err)
		}
		// An independent encoder (go-ipld-prime's) must reproduce the payload bytes too.
		var ref bytes.Buffer
		if err := dagcbor.Encode(payload, &ref); err != nil {
			t.Fatalf("go-ipld-prime cannot encode a decoded payload: %v", err)
		}
		if !bytes.Equal(ref.Bytes(), raw[tok.payloadAt:]) {
			t.Fatalf("accepted payload is not what go-ipld-prime encodes:\n got %x\nwant %x", raw[tok.payloadAt:], ref.Bytes())
		}
		var enc []byte
		if tok.Delegation != nil {
			enc, err = tok.Delegation.encode(tok.Delegation.Issuer)
		} else {
			enc, err = tok.Invocation.appendPayload(nil, tok.Invocation.Issuer)
		}
		if err != nil {
			t.Fatalf("re-encoding a decoded payload: %v", err)
		}
		if !bytes.Equal(enc, raw[tok.payloadAt:]) {
			sub, _ := payload.LookupByString("sub")
			exp, _ := payload.LookupByString("exp")
			if sub != nil && exp != nil {
				t.Fatalf("payload re-encodes differently:\n got %x\nwant %x", enc, raw[tok.payloadAt:])
			}
		}
	})
}
