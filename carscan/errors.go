package carscan

import "errors"

var (
	// ErrNotCAR: the stream does not start with a CARv1 header.
	ErrNotCAR = errors.New("not a CAR")
	// ErrMismatch: a block's bytes do not hash to its CID, or its CID cannot be read.
	ErrMismatch = errors.New("does not match its CID")
	// ErrTruncated: the stream ends inside the header or a section.
	ErrTruncated = errors.New("truncated CAR")
	// ErrTooLarge: the header, a section or the number of blocks is over a limit.
	ErrTooLarge = errors.New("over a CAR limit")
)

// Invalid reports whether err says the bytes are not a well-formed CAR (ErrNotCAR,
// ErrMismatch, ErrTruncated or ErrTooLarge), rather than that they could not be read.
func Invalid(err error) bool {
	return errors.Is(err, ErrNotCAR) || errors.Is(err, ErrMismatch) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrTooLarge)
}
