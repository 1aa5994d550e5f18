package unixfs_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	blocks "github.com/ipfs/go-block-format"

	"github.com/w3dag/w3dag/client/unixfs"
)

// TestIpfsCarRoots imports every input ipfs-car@3.1.0 packed (testdata/ipfs-car-roots.txt,
// made by testdata/ipfs-car.sh) and checks the root CID is the one ipfs-car printed.
func TestIpfsCarRoots(t *testing.T) {
	f, err := os.Open("testdata/ipfs-car-roots.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dirs := map[string]string{}
	for _, c := range carCases() {
		dir := t.TempDir()
		writeCase(t, dir, c)
		dirs[c.name] = dir
	}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			t.Fatalf("bad fixture line %q", sc.Text())
		}
		name, args, want := fields[0], fields[1:len(fields)-1], fields[len(fields)-1]
		n++
		t.Run(strings.Join(fields[:len(fields)-1], " "), func(t *testing.T) {
			var opts unixfs.Options
			var paths []string
			for _, a := range args {
				switch a {
				case "--no-wrap":
					opts.NoWrap = true
				case "--hidden":
					opts.Hidden = true
				default:
					paths = append(paths, filepath.Join(dirs[name], filepath.FromSlash(a)))
				}
			}
			files, err := unixfs.List(paths, opts)
			if err != nil {
				t.Fatal(err)
			}
			var last blocks.Block
			nblocks := 0
			root, err := unixfs.Import(context.Background(), files, opts, func(b blocks.Block) error {
				last = b
				nblocks++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if root.String() != want {
				t.Errorf("root %s, ipfs-car made %s", root, want)
			}
			if !last.Cid().Equals(root) {
				t.Errorf("last block emitted %s, not the root %s", last.Cid(), root)
			}
		})
	}
	if n < 15 {
		t.Fatalf("only %d fixtures", n)
	}
}
