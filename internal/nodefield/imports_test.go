package nodefield

import (
	"slices"
	"testing"

	"github.com/w3dag/w3dag/internal/imports"
)

// TestImports checks what doc.go promises: go-ipld-prime, go-cid and the standard library.
func TestImports(t *testing.T) {
	allowed := []string{"github.com/ipfs/go-cid", "github.com/ipld/go-ipld-prime/datamodel", "github.com/ipld/go-ipld-prime/linking/cid"}
	imports.Check(t, ".", 3, func(path string) bool { return imports.Std(path) || slices.Contains(allowed, path) })
}
