package logs

import (
	"slices"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/internal/imports"
)

// TestImports checks what doc.go promises: of w3dag's packages the exporter imports only
// archive, blob, cbor, dag, internal/cidtext, internal/failrun, kv, message, receipts and
// ucan.
func TestImports(t *testing.T) {
	allowed := []string{"archive", "blob", "cbor", "dag", "internal/cidtext", "internal/failrun", "kv", "message", "receipts", "ucan"}
	imports.Check(t, ".", 5, func(path string) bool {
		ours, ok := strings.CutPrefix(path, "github.com/w3dag/w3dag/")
		return !ok || slices.Contains(allowed, ours)
	})
}
