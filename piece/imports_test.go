package piece

import (
	"slices"
	"testing"

	"github.com/w3dag/w3dag/internal/imports"
)

// TestLeafPackage checks what doc.go promises: the package (its non-test files) imports
// nothing of ours and only the allowed external modules.
func TestLeafPackage(t *testing.T) {
	allowed := []string{"github.com/ipfs/go-cid", "github.com/multiformats/go-multihash", "github.com/multiformats/go-varint"}
	imports.Check(t, ".", 10, func(path string) bool { return imports.Std(path) || slices.Contains(allowed, path) })
}
