package piece

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// payload returns n deterministic bytes distinct for each seed.
func payload(n int, seed byte) []byte {
	b := vectorContent(n + 64)[64:]
	for i := range b {
		b[i] ^= seed
	}
	return b
}

// dealBytes lays out the deal's payload as a storage provider receives it:
// each piece's payload at its unpadded offset, zeros in the gaps, and the raw
// index region at the end. Its commP must be the aggregate's root.
func dealBytes(t *testing.T, a *Aggregate, payloads [][]byte) []byte {
	t.Helper()
	deal := make([]byte, a.DealSize/128*127)
	for i, s := range a.Segments {
		copy(deal[s.Offset/128*127:], payloads[i])
	}
	raw, off := a.IndexRegionRaw()
	if off+uint64(len(raw)) != uint64(len(deal)) {
		t.Fatalf("raw index [%d, %d) does not end the %d-byte deal payload", off, off+uint64(len(raw)), len(deal))
	}
	copy(deal[off:], raw)
	return deal
}

func TestAggregateTable(t *testing.T) {
	cases := []struct {
		name    string
		deal    uint64
		sizes   []int // payload bytes of each piece
		offsets []uint64
		wantErr error
		errHas  string
	}{
		{name: "1 piece", deal: 2048, sizes: []int{100}, offsets: []uint64{0}},
		{name: "4 pieces of 128", deal: 1024, sizes: []int{127, 127, 1, 127}, offsets: []uint64{0, 128, 256, 384}},
		{name: "8 pieces (2^3) in a deal with 8 entries", deal: 1 << 20, sizes: []int{127, 200, 127, 127, 127, 600, 127, 127},
			offsets: []uint64{0, 256, 512, 640, 768, 1024, 2048, 2176}},
		{name: "mixed sizes out of order", deal: 4096, sizes: []int{127, 500, 254, 65}, offsets: []uint64{0, 512, 1024, 1280}},
		{name: "alignment gap", deal: 4096, sizes: []int{127, 1000}, offsets: []uint64{0, 1024}},
		{name: "exactly fills the space before the index", deal: 2048, sizes: []int{1016, 508, 254}, offsets: []uint64{0, 1024, 1536}},
		{name: "one byte too many", deal: 2048, sizes: []int{1016, 508, 255}, wantErr: ErrDoesNotFit, errHas: "piece 2"},
		{name: "a piece the size of the deal", deal: 2048, sizes: []int{2032}, wantErr: ErrDoesNotFit, errHas: "piece 0"},
		{name: "more pieces than entries", deal: 2048, sizes: []int{1, 1, 1, 1, 1}, wantErr: ErrDoesNotFit, errHas: "4 entries"},
		{name: "no pieces", deal: 2048, wantErr: ErrDoesNotFit},
		{name: "deal not a power of two", deal: 3000, sizes: []int{1}, wantErr: ErrBadDealSize},
		{name: "deal too small", deal: 256, sizes: []int{1}, wantErr: ErrBadDealSize},
		{name: "deal too large", deal: MaxDealSize * 2, sizes: []int{1}, wantErr: ErrBadDealSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var pieces []Piece
			var payloads [][]byte
			for i, n := range c.sizes {
				b := payload(n, byte(i+1))
				payloads = append(payloads, b)
				pieces = append(pieces, computeBytes(t, b))
			}
			a, err := NewAggregate(c.deal, pieces)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) || !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("err = %v, want %v naming %q", err, c.wantErr, c.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range a.Segments {
				if s.Offset != c.offsets[i] {
					t.Errorf("piece %d at %d, want %d", i, s.Offset, c.offsets[i])
				}
			}
			// The index: one valid entry per piece, in order, read back from the region.
			entries, err := ValidEntries(a.IndexRegion())
			if err != nil || len(entries) != len(pieces) {
				t.Fatalf("ValidEntries: %d entries, %v; want %d", len(entries), err, len(pieces))
			}
			for i, e := range entries {
				if e.CommDs != pieces[i].Root || e.Offset != c.offsets[i] || e.Size != pieces[i].PaddedSize() {
					t.Errorf("entry %d = %+v", i, e)
				}
			}
			// The root, computed without the pieces' bytes, is the commP of the deal's bytes.
			full := computeBytes(t, dealBytes(t, a, payloads))
			if full.Root != a.Root || full.CID() != a.Piece().CID() {
				t.Fatalf("aggregate root %x, commP of the deal bytes %x", a.Root, full.Root)
			}
			agg := a.Piece().CID()
			for i := range pieces {
				proof, err := a.Inclusion(i)
				if err != nil {
					t.Fatal(err)
				}
				if err := VerifyInclusion(agg, pieces[i].CID(), proof); err != nil {
					t.Errorf("piece %d: %v", i, err)
				}
				enc, _ := proof.MarshalBinary()
				back, err := DecodeInclusionProof(enc)
				if err != nil || !back.Equal(proof) {
					t.Errorf("piece %d: proof round trip: %v", i, err)
				}
				// Another piece's proof, or this proof for another piece, fails.
				if len(pieces) > 1 {
					other := pieces[(i+1)%len(pieces)]
					if err := VerifyInclusion(agg, other.CID(), proof); !errors.Is(err, ErrInclusion) {
						t.Errorf("piece %d's proof verified piece %d: %v", i, (i+1)%len(pieces), err)
					}
				}
			}
		})
	}
}

func TestInclusionTampering(t *testing.T) {
	pieces := []Piece{computeBytes(t, payload(127, 1)), computeBytes(t, payload(400, 2))}
	a, err := NewAggregate(4096, pieces)
	if err != nil {
		t.Fatal(err)
	}
	agg := a.Piece().CID()
	good, _ := a.Inclusion(1)
	clone := func() InclusionProof {
		enc, _ := good.MarshalBinary()
		p, _ := DecodeInclusionProof(enc)
		return p
	}
	tamper := map[string]func(p *InclusionProof){
		"subtree node":  func(p *InclusionProof) { p.Subtree.Path[0][3] ^= 1 },
		"index node":    func(p *InclusionProof) { p.Index.Path[2][0] ^= 1 },
		"subtree index": func(p *InclusionProof) { p.Subtree.Index ^= 1 },
		"entry index":   func(p *InclusionProof) { p.Index.Index ^= 1 },
		"short path":    func(p *InclusionProof) { p.Subtree.Path = p.Subtree.Path[1:] },
		"long index":    func(p *InclusionProof) { p.Index.Path = append(p.Index.Path, Node{}) },
	}
	for name, f := range tamper {
		p := clone()
		f(&p)
		if err := VerifyInclusion(agg, pieces[1].CID(), p); !errors.Is(err, ErrInclusion) {
			t.Errorf("%s: %v, want ErrInclusion", name, err)
		}
	}
	if err := VerifyInclusion(pieces[0].CID(), pieces[1].CID(), good); !errors.Is(err, ErrInclusion) {
		t.Errorf("against a piece that is not the aggregate: %v", err)
	}
	v1, _ := pieces[1].V1()
	if err := VerifyInclusion(agg, v1, good); !errors.Is(err, ErrInclusion) || !strings.Contains(err.Error(), "codec") {
		t.Errorf("v1 piece CID: %v", err)
	}
}

// TestLargeDeal places pieces in a 32 GiB deal (2^18 index entries) by
// their CIDs alone and checks the proofs.
func TestLargeDeal(t *testing.T) {
	const deal = 32 << 30
	if IndexEntries(deal) != 1<<18 || IndexStart(deal) != deal-16<<20 {
		t.Fatalf("32 GiB deal: %d entries at %d", IndexEntries(deal), IndexStart(deal))
	}
	pieces := []Piece{
		{Size: 1 << 30, Height: 26, Root: zeroComm[26]},
		computeBytes(t, payload(5000, 3)),
		{Size: 100 << 20, Height: 22, Root: [32]byte{1, 2, 3}},
	}
	a, err := NewAggregate(deal, pieces)
	if err != nil {
		t.Fatal(err)
	}
	if a.Segments[1].Offset != 2<<30 || a.Segments[2].Offset != 2<<30+128<<20 {
		t.Errorf("offsets %d %d", a.Segments[1].Offset, a.Segments[2].Offset)
	}
	for i := range pieces {
		p, _ := a.Inclusion(i)
		if err := VerifyInclusion(a.Piece().CID(), pieces[i].CID(), p); err != nil {
			t.Errorf("piece %d: %v", i, err)
		}
	}
}

func TestIndexEntryValidity(t *testing.T) {
	e := NewIndexEntry(zeroComm[5], 1024, 1024)
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	b := e.Bytes()
	if b[63]&0xC0 != 0 {
		t.Error("checksum's top bits set: the entry is not Fr32-safe")
	}
	bad := e
	bad.Checksum[0] ^= 1
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("bad checksum: %v", err)
	}
	unaligned := NewIndexEntry(zeroComm[5], 1000, 1024)
	if err := unaligned.Validate(); err == nil || !strings.Contains(err.Error(), "multiples of 128") {
		t.Errorf("unaligned offset: %v", err)
	}
	var zero IndexEntry
	if zero.Validate() == nil {
		t.Error("an all-zero (unused) entry is valid")
	}
	if _, err := DecodeIndexEntry(b[:63]); err == nil {
		t.Error("63-byte entry decoded")
	}
	if IndexEntries(512) != 4 || IndexEntries(1<<27) != 1024 || IndexEntries(1<<26) != 512 {
		t.Errorf("IndexEntries: %d %d %d", IndexEntries(512), IndexEntries(1<<27), IndexEntries(1<<26))
	}
}

func TestFr32UnpadInverts(t *testing.T) {
	in := payload(127*9, 7)
	in = append(in, bytes.Repeat([]byte{0xFF}, 127)...)
	out := make([]byte, len(in)/127*128)
	fr32Expand(out, in)
	back := make([]byte, len(in))
	fr32Unpad(back, out)
	if !bytes.Equal(back, in) {
		t.Fatal("fr32Unpad(fr32Expand(x)) != x")
	}
	// every bit of the stream lands in its slot: one set bit at a time
	for bit := 0; bit < 127*8; bit++ {
		var chunk [127]byte
		chunk[bit/8] = 1 << (bit % 8)
		var exp [128]byte
		fr32Expand(exp[:], chunk[:])
		slot, b := bit/254, bit%254
		want := [128]byte{}
		want[32*slot+b/8] = 1 << (b % 8)
		if exp != want {
			t.Fatalf("stream bit %d did not land at slot %d bit %d", bit, slot, b)
		}
		var un [127]byte
		fr32Unpad(un[:], exp[:])
		if un != chunk {
			t.Fatalf("stream bit %d does not unpad back", bit)
		}
	}
}

// TestBadPieceValues: hand-built Piece values are refused with errors, never a panic.
func TestBadPieceValues(t *testing.T) {
	good := Piece{Size: 1, Height: 2}
	for name, p := range map[string]Piece{
		"negative height": {Height: -1},
		"height 1":        {Height: 1},
		"height 40":       {Height: 40},
		"size > capacity": {Size: 128, Height: 2},
		"root not trunc":  {Height: 2, Root: [32]byte{31: 0xFF}},
	} {
		if _, err := NewAggregate(2048, []Piece{good, p}); !errors.Is(err, ErrDoesNotFit) || !strings.Contains(err.Error(), "piece 1") {
			t.Errorf("%s: NewAggregate: %v", name, err)
		}
		if err := (InclusionProof{}).Verify(p, good); !errors.Is(err, ErrInclusion) {
			t.Errorf("%s as aggregate: %v", name, err)
		}
		if err := (InclusionProof{}).Verify(Piece{Height: 10}, p); !errors.Is(err, ErrInclusion) {
			t.Errorf("%s as piece: %v", name, err)
		}
	}
}
