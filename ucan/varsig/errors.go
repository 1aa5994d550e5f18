package varsig

import "errors"

var (
	// ErrMalformed reports a header that is not a well-formed varsig (bad prefix, bad varint,
	// truncated, trailing bytes).
	ErrMalformed = errors.New("varsig: malformed header")
	// ErrUnsupported reports a well-formed header naming an algorithm, curve, hash, version
	// or payload encoding this package does not support.
	ErrUnsupported = errors.New("varsig: unsupported header")
)
