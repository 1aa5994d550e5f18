package unixfs_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"

	"github.com/w3dag/w3dag/client/unixfs"
)

// pack imports paths and cuts the blocks into shards of at most size bytes in a new
// directory; it returns the root and the shards.
func pack(t testing.TB, paths []string, opts unixfs.Options, size int64) (cid.Cid, []unixfs.Shard) {
	t.Helper()
	files, err := unixfs.List(paths, opts)
	if err != nil {
		t.Fatal(err)
	}
	var shards []unixfs.Shard
	s := unixfs.NewSharder(t.TempDir(), size, func(sh unixfs.Shard) error {
		shards = append(shards, sh)
		return nil
	})
	root, err := unixfs.Import(context.Background(), files, opts, s.Add)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return root, shards
}

// concat is one CAR stream holding the blocks of every shard.
func concat(t testing.TB, shards []unixfs.Shard) []byte {
	t.Helper()
	var out bytes.Buffer
	for i, sh := range shards {
		b, err := os.ReadFile(sh.Path)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 { // drop the header: its varint length, then that many bytes
			n, k := uvarint(b)
			b = b[k+int(n):]
		}
		out.Write(b)
	}
	return out.Bytes()
}

func uvarint(b []byte) (uint64, int) {
	var x uint64
	var s uint
	for i, c := range b {
		if c < 0x80 {
			return x | uint64(c)<<s, i + 1
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, 0
}

// sameTree fails unless the files under a and b are the same (names and bytes).
func sameTree(t testing.TB, a, b string) {
	t.Helper()
	list := func(root string) map[string][]byte {
		m := map[string][]byte{}
		err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			data, err := os.ReadFile(p)
			m[rel] = data
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ma, mb := list(a), list(b)
	if len(ma) != len(mb) {
		t.Fatalf("%d files, want %d", len(mb), len(ma))
	}
	for k, v := range ma {
		if w, ok := mb[k]; !ok || !bytes.Equal(v, w) {
			t.Fatalf("%s differs (present %v, %d bytes, want %d)", k, ok, len(w), len(v))
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range carCases() {
		t.Run(c.name, func(t *testing.T) {
			in := t.TempDir()
			writeCase(t, in, c)
			top := strings.SplitN(func() string {
				for n := range c.files {
					return n
				}
				return ""
			}(), "/", 2)[0]
			src := filepath.Join(in, top)
			root, shards := pack(t, []string{src}, unixfs.Options{NoWrap: true}, 3*mib/2)
			for _, sh := range shards {
				if sh.Size > 3*mib/2 {
					t.Fatalf("shard %d is %d bytes", sh.N, sh.Size)
				}
				checkShard(t, sh)
			}
			out := filepath.Join(t.TempDir(), "out")
			if err := unixfs.Extract(context.Background(), bytes.NewReader(concat(t, shards)), root, nil, out, unixfs.ExtractOptions{}); err != nil {
				t.Fatal(err)
			}
			info, _ := os.Stat(src)
			if info.IsDir() {
				// hidden files are not imported
				os.RemoveAll(filepath.Join(src, "b", ".hidden"))
				sameTree(t, src, out)
			} else {
				want, _ := os.ReadFile(src)
				got, err := os.ReadFile(out)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("extracted %d bytes (%v), want %d", len(got), err, len(want))
				}
			}
		})
	}
}

// checkShard reads a shard with go-car, which checks every block against its CID, and
// checks its header root is its first block.
func checkShard(t testing.TB, sh unixfs.Shard) {
	t.Helper()
	f, err := os.Open(sh.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br, err := car.NewBlockReader(f)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		b, err := br.Next()
		if err != nil {
			if n != sh.Blocks {
				t.Fatalf("shard %d: %d blocks, Sharder said %d (%v)", sh.N, n, sh.Blocks, err)
			}
			break
		}
		if n == 0 && (len(br.Roots) != 1 || !br.Roots[0].Equals(b.Cid())) {
			t.Fatalf("shard %d: roots %v, first block %s", sh.N, br.Roots, b.Cid())
		}
		n++
	}
}

func TestSharderSplitsFile(t *testing.T) {
	dir := t.TempDir()
	writeCase(t, dir, carCase{"x", map[string]int{"big.bin": 3*mib + 5}})
	_, shards := pack(t, []string{filepath.Join(dir, "big.bin")}, unixfs.Options{NoWrap: true}, 3*mib/2)
	if len(shards) != 3 { // 1 MiB per shard, the last with the 5-byte leaf and the root
		t.Fatalf("%d shards, want 3", len(shards))
	}
	var data int64
	for _, sh := range shards {
		data += sh.Data
	}
	if data != 3*mib+5 {
		t.Fatalf("shards hold %d data bytes", data)
	}
	s := unixfs.NewSharder("", mib, func(unixfs.Shard) error { return nil })
	err := s.Add(blocks.NewBlock(make([]byte, mib)))
	if err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Fatalf("a block larger than a shard: %v", err)
	}
}

func TestExtractRefusesLies(t *testing.T) {
	in := t.TempDir()
	c := carCase{"tree", map[string]int{"d/a.bin": 2*mib + 1, "d/s/b.txt": 10}}
	writeCase(t, in, c)
	root, shards := pack(t, []string{filepath.Join(in, "d")}, unixfs.Options{}, 1<<40)
	good := concat(t, shards)

	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)/2] ^= 1 // inside the first MiB leaf
	missing := bytes.Clone(good[:len(good)/3*2])
	for _, tc := range []struct {
		name string
		car  []byte
		path []string
		want error
		text string
	}{
		{"corrupt block", corrupt, nil, unixfs.ErrBadBlock, "block 1 (bafkrei"},
		{"truncated", missing, nil, unixfs.ErrNotCAR, ""},
		{"not a car", []byte("hello, world"), nil, unixfs.ErrNotCAR, ""},
		{"no such path", good, []string{"s", "nope"}, unixfs.ErrNotFound, "s/nope"},
		{"missing blocks", rootOnly(t, filepath.Join(in, "d")), nil, unixfs.ErrMissingBlock, "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			err := unixfs.Extract(context.Background(), bytes.NewReader(tc.car), root, tc.path, out, unixfs.ExtractOptions{})
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %q does not mention %q", err, tc.text)
			}
			left, _ := os.ReadDir(filepath.Dir(out))
			if len(left) != 0 {
				t.Fatalf("left %v behind", left)
			}
		})
	}
	// A file inside the directory, by path.
	out := filepath.Join(t.TempDir(), "b.txt")
	if err := unixfs.Extract(context.Background(), bytes.NewReader(good), root, []string{"s", "b.txt"}, out, unixfs.ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, content("d/s/b.txt", 10)) {
		t.Fatalf("got %q", got)
	}
	if err := unixfs.Extract(context.Background(), bytes.NewReader(good), root, nil, out, unixfs.ExtractOptions{}); !errors.Is(err, unixfs.ErrExists) {
		t.Fatalf("extract onto an existing path: %v", err)
	}
}

// rootOnly is a well-formed CAR holding only the root block of the DAG of path.
func rootOnly(t testing.TB, path string) []byte {
	files, err := unixfs.List([]string{path}, unixfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var last blocks.Block
	if _, err := unixfs.Import(context.Background(), files, unixfs.Options{}, func(b blocks.Block) error { last = b; return nil }); err != nil {
		t.Fatal(err)
	}
	var sh unixfs.Shard
	s := unixfs.NewSharder(t.TempDir(), 1<<30, func(x unixfs.Shard) error { sh = x; return nil })
	if err := s.Add(last); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(sh.Path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
