package logs

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports checks what doc.go promises: of w3dag's packages the exporter imports only
// archive, blob, dag, kv, message, receipts and ucan.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{}
	for _, p := range []string{"archive", "blob", "dag", "kv", "message", "receipts", "ucan"} {
		allowed["github.com/w3dag/w3dag/"+p] = true
	}
	ours := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		pf, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pf.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(path, "github.com/w3dag/w3dag/") {
				continue
			}
			ours++
			if !allowed[path] {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
	if ours < 5 {
		t.Fatalf("only %d imports of ours found; the test is not reading the package", ours)
	}
}
