package cidtext

import (
	"bytes"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// TestString checks String and Append, from a CID's bytes and from its key string,
// against cid.Cid.String for CIDv1 of every length the engine and clients use and longer
// (sha2-512 and identity CIDs past maxStackCID bytes), CIDv0, and the undefined CID.
func TestString(t *testing.T) {
	cs := []cid.Cid{cid.Undef}
	for i := range 200 {
		data := bytes.Repeat([]byte{byte(i)}, i)
		for _, h := range []uint64{multihash.SHA2_256, multihash.SHA2_512, multihash.IDENTITY} {
			mh, err := multihash.Sum(data, h, -1)
			if err != nil {
				t.Fatal(err)
			}
			for _, codec := range []uint64{cid.Raw, cid.DagCBOR, cid.DagProtobuf, 0x0202} {
				cs = append(cs, cid.NewCidV1(codec, mh))
			}
			if h == multihash.SHA2_256 {
				cs = append(cs, cid.NewCidV0(mh))
			}
		}
	}
	long := 0
	for _, c := range cs {
		want := c.String()
		if got := String(c); got != want {
			t.Fatalf("String(%x) = %s, want %s", c.Bytes(), got, want)
		}
		if got := string(Append(nil, c.Bytes())); got != want {
			t.Fatalf("Append(%x) = %s, want %s", c.Bytes(), got, want)
		}
		if got := string(Append([]byte(`{"/":"`), c.KeyString())); got != `{"/":"`+want {
			t.Fatalf(`Append({"/":", key string %x) = %s, want {"/":"%s`, c.Bytes(), got, want)
		}
		if c.ByteLen() > maxStackCID {
			long++
		}
	}
	if long == 0 {
		t.Fatal("no CID longer than maxStackCID tested")
	}
}

// TestAllocations checks the point of the package: String of a sha2-256 CIDv1 allocates
// only the string, and Append into a buffer with room allocates nothing.
func TestAllocations(t *testing.T) {
	c := cid.NewCidV1(cid.DagCBOR, multihash.Multihash(append([]byte{multihash.SHA2_256, 32}, bytes.Repeat([]byte{7}, 32)...)))
	if n := testing.AllocsPerRun(100, func() { _ = String(c) }); n != 1 {
		t.Errorf("String: %v allocations, want 1", n)
	}
	buf := make([]byte, 0, 128)
	if n := testing.AllocsPerRun(100, func() { buf = Append(buf[:0], c.KeyString()) }); n != 0 {
		t.Errorf("Append into a buffer with room: %v allocations, want 0", n)
	}
}

// BenchmarkString measures String of a sha2-256 CIDv1, what the engine spells in its keys.
func BenchmarkString(b *testing.B) {
	c := cid.NewCidV1(cid.DagCBOR, multihash.Multihash(append([]byte{multihash.SHA2_256, 32}, bytes.Repeat([]byte{7}, 32)...)))
	b.ReportAllocs()
	for b.Loop() {
		_ = String(c)
	}
}

// BenchmarkAppend measures Append of a sha2-256 CIDv1's bytes into a buffer with room,
// what the log exporter does for every link.
func BenchmarkAppend(b *testing.B) {
	c := cid.NewCidV1(cid.DagCBOR, multihash.Multihash(append([]byte{multihash.SHA2_256, 32}, bytes.Repeat([]byte{7}, 32)...)))
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = Append(buf[:0], c.KeyString())
	}
}
