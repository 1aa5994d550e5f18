// Package imports reads what a package's non-test Go files import, for the tests that hold
// each package to what its doc.go says it may import (dag, piece, cbor, archive/logs). It
// imports only the standard library and must import nothing of w3dag's.
package imports
