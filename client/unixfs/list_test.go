package unixfs_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/w3dag/w3dag/client/unixfs"
)

// TestListSymlinks holds List to what its comment says of symbolic links: inside a
// directory they are left out, and Options.Skipped hears of each; given as a path, a
// link is followed. Hidden names are left out without a word.
func TestListSymlinks(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	for name, data := range map[string]string{"in/a.txt": "a", "in/sub/b.txt": "b", "in/.hidden": "h", "outside.txt": "o"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{"in/to-file": "../outside.txt", "in/to-dir": "sub", "in/dangling": "nowhere"}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			t.Skipf("symbolic links: %v", err)
		}
	}
	var skipped []string
	files, err := unixfs.List([]string{in}, unixfs.Options{Skipped: func(p string) { skipped = append(skipped, p) }})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if want := []string{"a.txt", "sub/b.txt"}; !slices.Equal(names, want) {
		t.Errorf("listed %q, want %q", names, want)
	}
	slices.Sort(skipped)
	want := []string{filepath.Join(in, "dangling"), filepath.Join(in, "to-dir"), filepath.Join(in, "to-file")}
	if !slices.Equal(skipped, want) {
		t.Errorf("skipped %q, want %q", skipped, want)
	}

	// Given as a path, a link is followed.
	files, err = unixfs.List([]string{filepath.Join(in, "to-file")}, unixfs.Options{})
	if err != nil || len(files) != 1 || files[0].Size != 1 {
		t.Errorf("List of a link to a file: %+v, %v; want the file it names", files, err)
	}
}
