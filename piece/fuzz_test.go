package piece

import (
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// fuzzAggregate is a fixed aggregate of three distinct pieces the proof fuzzer
// verifies against.
func fuzzAggregate(t testing.TB) (*Aggregate, []Piece) {
	pieces := []Piece{
		{Size: 127, Height: 2, Root: [32]byte{1}},
		{Size: 500, Height: 4, Root: [32]byte{2}},
		{Size: 127, Height: 2, Root: [32]byte{3}},
	}
	a, err := NewAggregate(4096, pieces)
	if err != nil {
		t.Fatal(err)
	}
	return a, pieces
}

// FuzzInclusionProof decodes arbitrary bytes as a proof: the decoder either
// fails with ErrMalformedProof or returns a proof that re-encodes to the same
// bytes; verifying a decoded proof never panics and succeeds only for the
// genuine proof of that piece.
func FuzzInclusionProof(f *testing.F) {
	a, pieces := fuzzAggregate(f)
	genuine := make([]InclusionProof, len(pieces))
	for i := range pieces {
		genuine[i], _ = a.Inclusion(i)
		enc, _ := genuine[i].MarshalBinary()
		f.Add(enc, uint8(i))
	}
	agg := a.Piece().CID()
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		p, err := DecodeInclusionProof(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedProof) {
				t.Fatalf("decode error %v is not ErrMalformedProof", err)
			}
			return
		}
		enc, _ := p.MarshalBinary()
		if string(enc) != string(data) {
			t.Fatalf("decoded proof re-encodes differently: % x vs % x", enc, data)
		}
		i := int(which) % len(pieces)
		err = VerifyInclusion(agg, pieces[i].CID(), p)
		if err == nil && !p.Equal(genuine[i]) {
			t.Fatalf("a proof other than the genuine one verified piece %d", i)
		}
		if err != nil && !errors.Is(err, ErrInclusion) {
			t.Fatalf("verify error %v is not ErrInclusion", err)
		}
		if p.Equal(genuine[i]) && err != nil {
			t.Fatalf("genuine proof rejected: %v", err)
		}
	})
}

// FuzzParseCID parses arbitrary strings as v2 piece CIDs: a parsed piece
// formats back to the same CID bytes.
func FuzzParseCID(f *testing.F) {
	for _, s := range []string{
		"bafkzcibcp4bdomn3tgwgrh3g532zopskstnbrd2n3sxfqbze7rxt7vqn7veigmy",
		"bafkzcibcaapao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq",
		"bafkzcibd7abqlxticxolgseegik2stpfgkkuwyf6kufex3doorkvmzpjuxwe4dz4",
		"baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq",
		"bafkreie3ntx3nzvhuv63btdsgaeste6gurdigzw2soryitq6m3f3p24nba",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrNotPieceCID) {
				t.Fatalf("error %v is not ErrNotPieceCID", err)
			}
			return
		}
		c, _ := cid.Decode(s)
		if !p.CID().Equals(c) {
			t.Fatalf("%s parsed to %+v which formats as %s", s, p, p.CID())
		}
		if p.Size > capacity(p.Height) || p.Height < MinHeight || p.Height > MaxHeight {
			t.Fatalf("%s: inconsistent piece %+v", s, p)
		}
	})
}

func TestFromCIDRejects(t *testing.T) {
	mk := func(code uint64, digest []byte) cid.Cid {
		mh, err := multihash.Encode(digest, code)
		if err != nil {
			t.Fatal(err)
		}
		return cid.NewCidV1(CodecRaw, mh)
	}
	root := make([]byte, 32)
	good := append([]byte{0x7f, 2}, root...)
	if _, err := FromCID(mk(MhFr32Sha256Trunc254Padbintree, good)); err != nil {
		t.Fatalf("the empty piece: %v", err)
	}
	cases := map[string]struct {
		c   cid.Cid
		has string
	}{
		"undefined":          {cid.Undef, "undefined"},
		"v1 piece CID":       {V1CID([32]byte{}), "codec 0xf101"},
		"sha256":             {mk(multihash.SHA2_256, root), "multihash 0x12"},
		"short digest":       {mk(MhFr32Sha256Trunc254Padbintree, good[:33]), "32 bytes after the padding"},
		"long digest":        {mk(MhFr32Sha256Trunc254Padbintree, append(append([]byte{}, good...), 0)), "34 bytes after the padding"},
		"height 1":           {mk(MhFr32Sha256Trunc254Padbintree, append([]byte{0, 1}, root...)), "height 1"},
		"height 33":          {mk(MhFr32Sha256Trunc254Padbintree, append([]byte{0, 33}, root...)), "height 33"},
		"padding too large":  {mk(MhFr32Sha256Trunc254Padbintree, append([]byte{0x80, 0x01, 2}, root...)), "padding 128"},
		"non-minimal varint": {mk(MhFr32Sha256Trunc254Padbintree, append([]byte{0x81, 0x00, 2}, root...)), "varint"},
		"top bits set":       {mk(MhFr32Sha256Trunc254Padbintree, append(append([]byte{0, 2}, root[:31]...), 0x80)), "top two bits"},
	}
	for name, c := range cases {
		_, err := FromCID(c.c)
		if !errors.Is(err, ErrNotPieceCID) || !strings.Contains(err.Error(), c.has) {
			t.Errorf("%s: %v, want ErrNotPieceCID naming %q", name, err, c.has)
		}
	}
	if _, err := Parse("not a cid"); !errors.Is(err, ErrNotPieceCID) {
		t.Errorf("Parse(garbage): %v", err)
	}
}

func TestDecodeProofRejects(t *testing.T) {
	a, _ := fuzzAggregate(t)
	p, _ := a.Inclusion(1)
	enc, _ := p.MarshalBinary()
	cases := map[string]struct {
		data []byte
		has  string
	}{
		"empty":           {nil, "unexpected end"},
		"truncated":       {enc[:len(enc)-1], "unexpected end"},
		"trailing":        {append(append([]byte{}, enc...), 0), "trailing"},
		"map not array":   {append([]byte{0xa2}, enc[1:]...), "array of 2"},
		"indefinite":      {append([]byte{0x9f}, enc[1:]...), "indefinite"},
		"non-minimal len": {append([]byte{0x98, 0x02}, enc[1:]...), "minimally"},
		"deep path":       {[]byte{0x82, 0x82, 0x98, 0x21}, "at most 32"},
		"short node":      {[]byte{0x82, 0x82, 0x81, 0x58, 0x1f}, "want 32 bytes"},
		"index too wide":  {append(append([]byte{0x82, 0x82, 0x81, 0x58, 0x20}, make([]byte, 32)...), 0x02), "outside a level of 2"},
		"negative index":  {append(append([]byte{0x82, 0x82, 0x81, 0x58, 0x20}, make([]byte, 32)...), 0x20), "unsigned integer"},
	}
	for name, c := range cases {
		_, err := DecodeInclusionProof(c.data)
		if !errors.Is(err, ErrMalformedProof) || !strings.Contains(err.Error(), c.has) {
			t.Errorf("%s: %v, want ErrMalformedProof naming %q", name, err, c.has)
		}
	}
}
