package blob

import "errors"

var (
	// ErrNotFound is returned for a key that holds no blob.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidKey is returned for a key ValidKey rejects.
	ErrInvalidKey = errors.New("blob: invalid key")
	// ErrSizeMismatch is returned by Put when the bytes are not PutOptions.Size long.
	ErrSizeMismatch = errors.New("blob: size mismatch")
	// ErrDigestMismatch is returned by Put when the bytes do not hash to PutOptions.SHA256.
	ErrDigestMismatch = errors.New("blob: sha256 mismatch")
	// ErrInvalidRange is returned by Get for a range outside the blob.
	ErrInvalidRange = errors.New("blob: invalid range")
	// ErrStop, returned from a List callback, ends the listing without error.
	ErrStop = errors.New("blob: stop listing")
)
