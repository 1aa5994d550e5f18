package piece

import (
	"errors"
	"fmt"
)

var (
	// ErrTooLarge is returned when a payload exceeds MaxPayloadSize, or a piece
	// or deal would be taller than MaxHeight.
	ErrTooLarge = errors.New("piece: too large")
	// ErrWriterClosed is returned by Write after Sum or Close.
	ErrWriterClosed = errors.New("piece: write after Sum")
	// ErrNotPieceCID is returned by FromCID for a CID that is not a v2
	// (FRC-0069) piece CID; the wrapped message says what was wrong.
	ErrNotPieceCID = errors.New("piece: not a v2 piece CID")
	// ErrDoesNotFit is returned by NewAggregate when the pieces (or their
	// count) do not fit in the deal beside its index.
	ErrDoesNotFit = errors.New("piece: pieces do not fit in the deal")
	// ErrBadDealSize is returned for a deal size that is not a power of two in
	// [MinDealSize, MaxDealSize].
	ErrBadDealSize = errors.New("piece: bad deal size")
	// ErrMalformedProof is returned when an encoded inclusion proof does not
	// decode; the wrapped message names the problem.
	ErrMalformedProof = errors.New("piece: malformed inclusion proof")
	// ErrInclusion is returned by VerifyInclusion when a proof does not show
	// the piece in the aggregate; the wrapped message says which check failed.
	ErrInclusion = errors.New("piece: inclusion proof does not verify")
)

// wrapf returns an error that matches sentinel with errors.Is and reads
// "sentinel: message".
func wrapf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}

// FitError says which piece does not fit in a deal. It matches ErrDoesNotFit.
type FitError struct {
	// Piece is the index of the first piece that does not fit, or -1 when the
	// problem is the number of pieces.
	Piece int
	// Reason says why, naming sizes and offsets.
	Reason string
}

func (e *FitError) Error() string {
	if e.Piece < 0 {
		return ErrDoesNotFit.Error() + ": " + e.Reason
	}
	return fmt.Sprintf("%v: piece %d %s", ErrDoesNotFit, e.Piece, e.Reason)
}

// Unwrap makes errors.Is(err, ErrDoesNotFit) hold.
func (e *FitError) Unwrap() error { return ErrDoesNotFit }
