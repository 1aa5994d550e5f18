package logs

import (
	"errors"
	"fmt"
)

var (
	// ErrConfig: Options lack something New needs.
	ErrConfig = errors.New("logs: bad configuration")
	// ErrCorrupt: the exporter's kv state, a commit-log receipt or the invocation it ran
	// cannot be read as what it should be.
	ErrCorrupt = errors.New("logs: corrupt export state or log record")
	// ErrMoved: another exporter moved the position while this one wrote a chunk (its
	// files were the same; nothing to do but read the position again).
	ErrMoved = errors.New("logs: export position moved by another exporter")
)

// ReadError is what the exporter's reader of receipt and invocation blocks says of a block
// it cannot read (wrapped in ErrCorrupt with the record and the block's CID). Err is
// cbor.ErrMalformed or cbor.ErrNonCanonical when the reason is one of those, else nil.
type ReadError struct {
	// Offset is the byte of the block where the problem is; for a missing field, where
	// the map that lacks it starts.
	Offset int
	Reason string
	Err    error
}

// Error returns "byte <Offset>: <Reason>[: <Err>]".
func (e *ReadError) Error() string {
	s := fmt.Sprintf("byte %d: %s", e.Offset, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns Err.
func (e *ReadError) Unwrap() error { return e.Err }
