package imports

import (
	"fmt"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Of returns the import paths of the non-test .go files in dir, by file name.
func Of(dir string) (map[string][]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		pf, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			return nil, fmt.Errorf("reading the imports of %s: %w", f, err)
		}
		for _, imp := range pf.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: import %s: %w", f, imp.Path.Value, err)
			}
			out[filepath.Base(f)] = append(out[filepath.Base(f)], path)
		}
	}
	return out, nil
}

// Std reports whether path is a standard library package (no dot in its first element).
func Std(path string) bool {
	return !strings.Contains(strings.SplitN(path, "/", 2)[0], ".")
}

// Check fails tb for every import of the package in dir that allowed rejects, naming the
// file, and when fewer than min imports pass through allowed at all (then the test is not
// reading the package it means to).
func Check(tb testing.TB, dir string, min int, allowed func(path string) bool) {
	tb.Helper()
	byFile, err := Of(dir)
	if err != nil {
		tb.Fatal(err)
	}
	files := make([]string, 0, len(byFile))
	for f := range byFile {
		files = append(files, f)
	}
	slices.Sort(files)
	n := 0
	for _, f := range files {
		for _, path := range byFile[f] {
			n++
			if !allowed(path) {
				tb.Errorf("%s imports %s, which its package's doc.go does not allow", f, path)
			}
		}
	}
	if n < min {
		tb.Fatalf("only %d imports found in %s, want at least %d: the test is not reading the package", n, dir, min)
	}
}
