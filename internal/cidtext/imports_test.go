package cidtext

import (
	"slices"
	"testing"

	"github.com/w3dag/w3dag/internal/imports"
)

// TestImports checks what doc.go promises: the standard library, go-cid and go-multihash.
func TestImports(t *testing.T) {
	allowed := []string{"github.com/ipfs/go-cid", "github.com/multiformats/go-multihash"}
	imports.Check(t, ".", 3, func(path string) bool { return imports.Std(path) || slices.Contains(allowed, path) })
}
