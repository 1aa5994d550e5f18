package piece

import (
	"bytes"
	"crypto/sha512"
	"encoding/csv"
	"os"
	"strconv"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/internal/fixtures"
)

// vectorContent derives a commp vector's payload as fixtures/README.md says:
// 64 bytes at a time, SHA-512 of the previous 64 bytes (of all bytes so far
// while fewer than 64), the last digest truncated.
func vectorContent(size int) []byte {
	out := make([]byte, 0, size+64)
	for len(out) < size {
		prev := out
		if len(prev) > 64 {
			prev = prev[len(prev)-64:]
		}
		d := sha512.Sum512(prev)
		out = append(out, d[:]...)
	}
	return out[:size]
}

type vector struct {
	size     int
	payload  cid.Cid
	unpadded uint64
	padded   uint64
	commP    cid.Cid
}

func readVectors(t testing.TB) []vector {
	f, err := os.Open(fixtures.Path(t, "commp", "vector.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	for _, r := range rows[1:] {
		var v vector
		var err error
		if v.size, err = strconv.Atoi(r[0]); err != nil {
			t.Fatal(err)
		}
		if v.payload, err = cid.Decode(r[1]); err != nil {
			t.Fatal(err)
		}
		if v.unpadded, err = strconv.ParseUint(r[2], 10, 64); err != nil {
			t.Fatal(err)
		}
		if v.padded, err = strconv.ParseUint(r[3], 10, 64); err != nil {
			t.Fatal(err)
		}
		if v.commP, err = cid.Decode(r[4]); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if len(vs) != 83 {
		t.Fatalf("%d vectors, want 83", len(vs))
	}
	return vs
}

// TestVectors runs the 83 public vectors through the Writer, sequentially
// and on 2 workers, with each node function this machine has.
func TestVectors(t *testing.T) { nodeImpls(t, testVectors) }

func testVectors(t *testing.T) {
	for _, v := range readVectors(t) {
		data := vectorContent(v.size)
		mh, _ := multihash.Sum(data, multihash.SHA2_256, -1)
		if got := cid.NewCidV1(cid.Raw, mh); !got.Equals(v.payload) {
			t.Fatalf("size %d: derived content has CID %s, the vector says %s", v.size, got, v.payload)
		}
		for _, workers := range []int{1, 2} {
			w := NewWriterWorkers(workers)
			// odd-sized writes cross chunk and segment boundaries
			for rest := data; len(rest) > 0; {
				k := min(len(rest), 1000003)
				if _, err := w.Write(rest[:k]); err != nil {
					t.Fatal(err)
				}
				rest = rest[k:]
			}
			p, err := w.Sum()
			if err != nil {
				t.Fatal(err)
			}
			v1, padded := p.V1()
			if !v1.Equals(v.commP) || padded != v.padded || p.Size != uint64(v.size) || capacity(p.Height) != v.unpadded {
				t.Errorf("size %d workers %d: got %s padded %d capacity %d, want %s padded %d capacity %d",
					v.size, workers, v1, padded, capacity(p.Height), v.commP, v.padded, v.unpadded)
			}
			back, err := FromCID(p.CID())
			if err != nil || back != p {
				t.Errorf("size %d: FromCID(CID()) = %+v, %v; want %+v", v.size, back, err, p)
			}
		}
	}
}

func computeBytes(t testing.TB, b []byte) Piece {
	t.Helper()
	p, err := Compute(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFRC0069 checks the FRC-0069 test cases (the notes list them).
func TestFRC0069(t *testing.T) {
	rep := func(unit []byte, n int) []byte { return bytes.Repeat(unit, n) }
	z := func(n int) []byte { return make([]byte, n) }
	var b127 []byte
	for i := 0; i < 4; i++ {
		b127 = append(b127, bytes.Repeat([]byte{byte(i)}, 127)...)
	}
	var b128 []byte
	for i := 0; i < 4; i++ {
		b128 = append(b128, rep([]byte{byte(i)}, 128)...)
	}
	cases := []struct {
		name    string
		data    []byte
		v2, v1  string
		padding uint64
		height  int
	}{
		{"127x{0,1,2,3}", b127, "bafkzcibcaaces3nobte6ezpp4wqan2age2s5yxcatzotcvobhgcmv5wi2xh5mbi", "baga6ea4seaqes3nobte6ezpp4wqan2age2s5yxcatzotcvobhgcmv5wi2xh5mbi", 0, 4},
		{"empty", nil, "bafkzcibcp4bdomn3tgwgrh3g532zopskstnbrd2n3sxfqbze7rxt7vqn7veigmy", "", 127, 2},
		{"127 zeros", z(127), "bafkzcibcaabdomn3tgwgrh3g532zopskstnbrd2n3sxfqbze7rxt7vqn7veigmy", "", 0, 2},
		{"128 zeros", z(128), "bafkzcibcpybwiktap34inmaex4wbs6cghlq5i2j2yd2bb2zndn5ep7ralzphkdy", "", 126, 3},
		// The notes list this case as "127×8 and 128×4: padding 504" without its bytes: 512
		// bytes, the four 127-byte runs above and 4 zero bytes, give that CID.
		{"127x{0,1,2,3}+4 zeros", append(append([]byte{}, b127...), 0, 0, 0, 0), "bafkzcibd7abqlxticxolgseegik2stpfgkkuwyf6kufex3doorkvmzpjuxwe4dz4", "", 504, 5},
		{"128x{0,1,2,3}+1", append(append([]byte{}, b128...), 4), "", "", 503, 5},
	}
	for _, c := range cases {
		p := computeBytes(t, c.data)
		if p.Padding() != c.padding || p.Height != c.height {
			t.Errorf("%s: padding %d height %d, want %d %d", c.name, p.Padding(), p.Height, c.padding, c.height)
		}
		if c.v2 != "" && p.CID().String() != c.v2 {
			t.Errorf("%s: v2 %s, want %s", c.name, p.CID(), c.v2)
		}
		if v1, _ := p.V1(); c.v1 != "" && v1.String() != c.v1 {
			t.Errorf("%s: v1 %s, want %s", c.name, v1, c.v1)
		}
		back, err := Parse(p.CID().String())
		if err != nil || back != p {
			t.Errorf("%s: Parse round trip %+v %v", c.name, back, err)
		}
	}
}

// TestEmptyLargePieces checks the FRC-0069 empty 32 GiB and 64 GiB pieces via
// the zero-commitment table the streaming tree pads with.
func TestEmptyLargePieces(t *testing.T) {
	p32 := Piece{Size: 0, Height: 30, Root: zeroComm[30]}
	if v1, _ := p32.V1(); v1.String() != "baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq" {
		t.Errorf("empty 32 GiB v1 %s", v1)
	}
	p32.Size = capacity(30)
	if p32.CID().String() != "bafkzcibcaapao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq" {
		t.Errorf("empty 32 GiB v2 %s", p32.CID())
	}
	if v1 := V1CID(zeroComm[31]); v1.String() != "baga6ea4seaqomqafu276g53zko4k23xzh4h4uecjwicbmvhsuqi7o4bhthhm4aq" {
		t.Errorf("empty 64 GiB v1 %s", v1)
	}
	// a 1-byte payload at the start of a zero tree still hashes every level
	var s stack
	s.push(0, [NodeSize]byte{1})
	if s.finish(30) == zeroComm[30] {
		t.Error("a non-zero leaf gave the zero root")
	}
}

func TestHasherMatchesSum256(t *testing.T) {
	if !useStateTrick {
		t.Log("the sha256 state encoding is not the expected one: hashing falls back to sha256.Sum256")
	}
	saved := useSHANI
	useSHANI = false // the hasher itself, not the assembly
	defer func() { useSHANI = saved }()
	h := newHasher()
	buf := vectorContent(64 * 9)
	want := refLevel(buf)
	h.reduceLevel(buf, 18)
	if !bytes.Equal(buf[:32*9], want) {
		t.Fatal("reduceLevel differs from crypto/sha256")
	}
}
