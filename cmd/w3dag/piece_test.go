package main

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/internal/fixtures"
	"github.com/w3dag/w3dag/piece"
)

// commpVectors returns the rows of ../shared/fixtures/commp/vector.csv, skipping when it is
// absent.
func commpVectors(t *testing.T) [][]string {
	t.Helper()
	p := fixtures.Path(t, "commp", "vector.csv")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 84 {
		t.Fatalf("%d rows, want a header and 83 vectors", len(rows))
	}
	return rows[1:]
}

// vectorBytes derives a vector's content as fixtures/README.md describes: 64 bytes at a
// time, SHA-512 of the previous 64 bytes (of all bytes so far while fewer), truncated.
func vectorBytes(size int) []byte {
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

func TestPieceVectors(t *testing.T) {
	clearEnv(t)
	rows := commpVectors(t)
	dir := t.TempDir()
	var files []string
	for i, r := range rows {
		size, err := strconv.Atoi(r[0])
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, strconv.Itoa(i)+".bin")
		if err := os.WriteFile(name, vectorBytes(size), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	stdout, stderr, code := cli(t, append([]string{"piece"}, files...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != len(rows) {
		t.Fatalf("%d lines for %d files", len(lines), len(rows))
	}
	for i, line := range lines {
		f := strings.Fields(line)
		r := rows[i]
		// v2, v1, size, padded size, file
		if len(f) != 5 || f[1] != r[4] || f[2] != r[0] || f[3] != r[3] || f[4] != files[i] {
			t.Errorf("vector %d (size %s): got %q, want v1 %s size %s padded %s", i, r[0], line, r[4], r[0], r[3])
			continue
		}
		p, err := piece.Parse(f[0])
		if err != nil {
			t.Fatalf("vector %d: v2 %s: %v", i, f[0], err)
		}
		if v1, padded := p.V1(); v1.String() != r[4] || strconv.FormatUint(padded, 10) != r[3] || strconv.FormatUint(p.Size, 10) != r[0] {
			t.Errorf("vector %d: v2 %s decodes to v1 %s padded %d size %d", i, f[0], v1, padded, p.Size)
		}
	}
	// --json gives the same four fields, from stdin too.
	data, _ := os.ReadFile(files[len(files)-1])
	pieceStdin = bytes.NewReader(data)
	defer func() { pieceStdin = os.Stdin }()
	stdout, stderr, code = cli(t, "piece", "--json", "-")
	if code != 0 {
		t.Fatalf("--json -: exit %d: %s", code, stderr)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("%q: %v", stdout, err)
	}
	last := rows[len(rows)-1]
	want := strings.Fields(lines[len(lines)-1])
	if len(doc) != 4 || doc["piece"].(map[string]any)["/"] != want[0] || doc["v1"].(map[string]any)["/"] != last[4] ||
		strconv.FormatFloat(doc["size"].(float64), 'f', -1, 64) != last[0] || strconv.FormatFloat(doc["paddedSize"].(float64), 'f', -1, 64) != last[3] {
		t.Errorf("--json: %s, want piece %s v1 %s size %s paddedSize %s", stdout, want[0], last[4], last[0], last[3])
	}
}

func TestPieceErrors(t *testing.T) {
	clearEnv(t)
	if _, _, code := cli(t, "piece"); code != 2 {
		t.Errorf("no FILE: exit %d, want 2", code)
	}
	missing := filepath.Join(t.TempDir(), "missing.bin")
	if _, stderr, code := cli(t, "piece", missing); code != 1 || !strings.Contains(stderr, "missing.bin") {
		t.Errorf("missing file: exit %d %q", code, stderr)
	}
	if _, stderr, code := cli(t, "piece", t.TempDir()); code != 1 || !strings.Contains(stderr, "directory") {
		t.Errorf("directory: exit %d %q", code, stderr)
	}
}

func TestAggregateCommand(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	aData, bData, cData := vectorBytes(3000), vectorBytes(1000)[1:], vectorBytes(100)
	a := write("a.bin", aData) // padded 4096
	b := write("b.bin", bData) // padded 1024
	cPiece, err := piece.Compute(bytes.NewReader(cData))
	if err != nil {
		t.Fatal(err)
	}
	c := cPiece.CID().String()
	indexOut := filepath.Join(dir, "index.bin")
	stdout, stderr, code := cli(t, "aggregate", "--deal-size", "16KiB", "--index-out", indexOut, b, a, c)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 7 {
		t.Fatalf("output:\n%s", stdout)
	}
	aggV2, aggV1 := strings.Fields(lines[0])[1], strings.Fields(lines[1])[1]
	if want := "deal size 16384 (index: 4 entries at offset 16128, payload offset 16002)"; strings.Join(strings.Fields(lines[2]), " ") != want {
		t.Errorf("%q, want %q", lines[2], want)
	}
	// b at 0 (1024), a at the next multiple of 4096, the CID's 128-byte piece after it
	for i, want := range []string{"0 1024 ok " + b, "4096 4096 ok " + a, "8192 128 ok " + c} {
		if got := strings.Join(strings.Fields(lines[4+i]), " "); got != want {
			t.Errorf("line %d = %q, want %q", 4+i, got, want)
		}
	}
	// The deal's payload as a provider receives it (each piece at its unpadded offset, the
	// raw index from --index-out at the end) has the aggregate's piece CID.
	index, err := os.ReadFile(indexOut)
	if err != nil {
		t.Fatal(err)
	}
	deal := make([]byte, 16384/128*127)
	copy(deal[0:], bData)
	copy(deal[4096/128*127:], aData)
	copy(deal[8192/128*127:], cData)
	if len(index) != 254 {
		t.Fatalf("index region of %d bytes, want 254 (4 entries of 64, unpadded)", len(index))
	}
	copy(deal[16002:], index)
	stdout, stderr, code = cli(t, "piece", write("deal.bin", deal))
	if f := strings.Fields(stdout); code != 0 || len(f) < 2 || f[0] != aggV2 || f[1] != aggV1 {
		t.Fatalf("commP of the deal bytes: %q %s, want %s %s", stdout, stderr, aggV2, aggV1)
	}

	// --json: every proof verifies against the aggregate CID alone.
	stdout, stderr, code = cli(t, "aggregate", "--deal-size", "16384", "--json", b, a, c)
	if code != 0 {
		t.Fatalf("--json: exit %d %s", code, stderr)
	}
	var doc struct {
		Aggregate struct {
			Link string `json:"/"`
		} `json:"aggregate"`
		Pieces []struct {
			Piece struct {
				Link string `json:"/"`
			} `json:"piece"`
			Verified bool   `json:"verified"`
			Offset   uint64 `json:"offset"`
			Proof    struct {
				Bytes struct {
					B64 string `json:"bytes"`
				} `json:"/"`
			} `json:"proof"`
		} `json:"pieces"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || doc.Aggregate.Link != aggV2 || len(doc.Pieces) != 3 {
		t.Fatalf("--json %s: %v", stdout, err)
	}
	aggCID, err := piece.Parse(doc.Aggregate.Link)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range doc.Pieces {
		raw, err := base64.RawStdEncoding.DecodeString(p.Proof.Bytes.B64)
		if err != nil {
			t.Fatal(err)
		}
		proof, err := piece.DecodeInclusionProof(raw)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := piece.Parse(p.Piece.Link)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Verified || piece.VerifyInclusion(aggCID.CID(), pc.CID(), proof) != nil {
			t.Errorf("piece %d: verified %t", i, p.Verified)
		}
	}

	for _, c := range []struct {
		name string
		args []string
		code int
		has  []string
	}{
		{"deal too small names the input", []string{"--deal-size", "8192", b, a, c}, 1, []string{a, "past the index at 7936"}},
		{"more pieces than index entries", []string{"--deal-size", "2048", "-", "-", "-", "-", "-"}, 1, []string{"5 pieces", "4 entries"}},
		{"no --deal-size", []string{b}, 2, []string{"--deal-size is required"}},
		{"deal size not a power of two", []string{"--deal-size", "3000", b}, 2, []string{"3000", "power of two"}},
		{"bad deal size", []string{"--deal-size", "lots", b}, 2, []string{"lots", "byte count"}},
		{"neither file nor CID", []string{"--deal-size", "4096", "nope"}, 1, []string{"nope", "neither a file nor a v2 piece CID"}},
		{"v1 CID", []string{"--deal-size", "4096", aggV1}, 1, []string{"codec 0xf101"}},
		{"no inputs", []string{"--deal-size", "4096"}, 2, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			pieceStdin = bytes.NewReader(nil)
			defer func() { pieceStdin = os.Stdin }()
			_, stderr, code := cli(t, append([]string{"aggregate"}, c.args...)...)
			if code != c.code {
				t.Errorf("exit %d, want %d: %s", code, c.code, stderr)
			}
			for _, h := range c.has {
				if !strings.Contains(stderr, h) {
					t.Errorf("stderr %q does not name %q", stderr, h)
				}
			}
		})
	}
}

// TestPieceFRC0069 runs the FRC-0069 cases of the notes (payloads of 0 to 512 bytes,
// some under 127) through `w3dag piece`: the v2 CID, and the v1 CID where the notes give it.
func TestPieceFRC0069(t *testing.T) {
	clearEnv(t)
	run := func(unit byte, n int) []byte { return bytes.Repeat([]byte{unit}, n) }
	b127 := slices.Concat(run(0, 127), run(1, 127), run(2, 127), run(3, 127))
	cases := []struct {
		name   string
		data   []byte
		v2, v1 string
	}{
		{"127x{0,1,2,3}", b127, "bafkzcibcaaces3nobte6ezpp4wqan2age2s5yxcatzotcvobhgcmv5wi2xh5mbi", "baga6ea4seaqes3nobte6ezpp4wqan2age2s5yxcatzotcvobhgcmv5wi2xh5mbi"},
		{"empty", nil, "bafkzcibcp4bdomn3tgwgrh3g532zopskstnbrd2n3sxfqbze7rxt7vqn7veigmy", ""},
		{"127 zeros", run(0, 127), "bafkzcibcaabdomn3tgwgrh3g532zopskstnbrd2n3sxfqbze7rxt7vqn7veigmy", ""},
		{"128 zeros", run(0, 128), "bafkzcibcpybwiktap34inmaex4wbs6cghlq5i2j2yd2bb2zndn5ep7ralzphkdy", ""},
		{"127x{0,1,2,3}+4 zeros", slices.Concat(b127, run(0, 4)), "bafkzcibd7abqlxticxolgseegik2stpfgkkuwyf6kufex3doorkvmzpjuxwe4dz4", ""},
	}
	dir := t.TempDir()
	for i, c := range cases {
		name := filepath.Join(dir, strconv.Itoa(i)+".bin")
		if err := os.WriteFile(name, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := cli(t, "piece", name)
		f := strings.Fields(stdout)
		if code != 0 || len(f) != 5 || f[0] != c.v2 || (c.v1 != "" && f[1] != c.v1) || f[2] != strconv.Itoa(len(c.data)) {
			t.Errorf("%s: exit %d, %q (%s); want v2 %s v1 %s size %d", c.name, code, stdout, stderr, c.v2, c.v1, len(c.data))
		}
	}
}
