package piece

import "errors"

var (
	// ErrNotCAR is returned by Queue for a content CID whose codec is not CAR (0x0202)
	// or that is not hashed with sha2-256.
	ErrNotCAR = errors.New("piece: not a sha2-256 CAR CID")
	// ErrInvalidSize is returned by Queue for a size below 1.
	ErrInvalidSize = errors.New("piece: invalid CAR size")
	// ErrInvalidPiece is the failure of a computed transition whose piece is not a v2
	// piece CID (FRC-0069).
	ErrInvalidPiece = errors.New("piece: invalid piece CID")
	// ErrMismatch is the (permanent) failure of a compute task whose blob's bytes are
	// not the CAR's: another size or another sha2-256 digest than the CID's.
	ErrMismatch = errors.New("piece: the stored bytes are not the CAR's")
	// ErrNoEntry is the (permanent) failure of a compute task whose piece entry does
	// not exist: Queue writes both in one transaction, so the store is corrupt.
	ErrNoEntry = errors.New("piece: the task's piece entry does not exist")
	// ErrCorrupt is returned by Queue for a stored queued state whose task is not a CID.
	ErrCorrupt = errors.New("piece: corrupt piece entry")
	// ErrUnknownPiece is returned by Content for a piece CID no computed piece has.
	ErrUnknownPiece = errors.New("piece: unknown piece")
)
