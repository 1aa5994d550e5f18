package unixfs_test

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// carCase is an input ipfs-car packed for testdata/ipfs-car-roots.txt: its files (name →
// size; contents from content(name, size)) under the case's directory.
type carCase struct {
	name  string
	files map[string]int
}

const mib = 1 << 20

// carCases are the inputs of the ipfs-car fixtures. Changing one changes its root CID:
// rerun testdata/ipfs-car.sh.
func carCases() []carCase {
	cs := []carCase{
		{"empty", map[string]int{"empty.bin": 0}},
		{"one", map[string]int{"one.bin": 1}},
		{"mib", map[string]int{"mib.bin": mib}},
		{"mibplus1", map[string]int{"mibplus1.bin": mib + 1}},
		{"multi", map[string]int{"multi.bin": 5*mib + 12345}},
		{"tree", map[string]int{
			"tree/a.txt":                 11,
			"tree/empty":                 0,
			"tree/süß/ünïcödé 文件.txt":    3000,
			"tree/süß/deeper/x/y.bin":    2*mib + 7,
			"tree/süß/deeper/emoji 🎉.md": 42,
			"tree/b/.hidden":             5,
			"tree/b/visible":             6,
			"tree/Ζ/ω":                   1,
		}},
	}
	flat := map[string]int{}
	for i := range 1000 {
		flat[fmt.Sprintf("flat/f%04d.txt", i)] = 10 + i%50
	}
	cs = append(cs, carCase{"flat1000", flat})
	h := map[string]int{}
	for i := range 1001 {
		h[fmt.Sprintf("hamt/f%04d.txt", i)] = 10 + i%50
	}
	h["hamt/sub/inner.txt"] = 9 // 1002 entries in hamt/
	cs = append(cs, carCase{"hamt1002", h})
	return cs
}

// content is the deterministic content of a case file.
func content(name string, size int) []byte {
	seed := sha256.Sum256([]byte(name))
	r := rand.New(rand.NewChaCha8(seed))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writeCase writes c's files under dir.
func writeCase(t testing.TB, dir string, c carCase) {
	t.Helper()
	for name, size := range c.files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content(name, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWriteCases writes every case under $W3DAG_UNIXFS_CASES/<case>/ for
// testdata/ipfs-car.sh; it is skipped without that variable.
func TestWriteCases(t *testing.T) {
	dir := os.Getenv("W3DAG_UNIXFS_CASES")
	if dir == "" {
		t.Skip("W3DAG_UNIXFS_CASES not set (testdata/ipfs-car.sh sets it)")
	}
	for _, c := range carCases() {
		writeCase(t, filepath.Join(dir, c.name), c)
	}
}
