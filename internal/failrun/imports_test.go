package failrun

import (
	"testing"

	"github.com/w3dag/w3dag/internal/imports"
)

// TestImports checks what doc.go promises: the package imports only the standard library.
func TestImports(t *testing.T) {
	imports.Check(t, ".", 3, imports.Std)
}
