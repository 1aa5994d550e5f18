package cbor_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the package a leaf: the standard library, go-cid and go-ipld-prime's
// datamodel only (see doc.go).
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"github.com/ipfs/go-cid":                  true,
		"github.com/ipld/go-ipld-prime/datamodel": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(strings.SplitN(path, "/", 2)[0], ".") && !allowed[path] {
				t.Errorf("%s imports %s: the package may import only the standard library, go-cid and go-ipld-prime/datamodel", name, path)
			}
		}
	}
}
