package cbor_test

import (
	"slices"
	"testing"

	"github.com/w3dag/w3dag/internal/imports"
)

// TestImports keeps the package a leaf: the standard library, go-cid and go-ipld-prime's
// datamodel only (see doc.go).
func TestImports(t *testing.T) {
	allowed := []string{"github.com/ipfs/go-cid", "github.com/ipld/go-ipld-prime/datamodel"}
	imports.Check(t, ".", 5, func(path string) bool { return imports.Std(path) || slices.Contains(allowed, path) })
}
