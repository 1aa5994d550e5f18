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
	// ErrInvalidOptions is returned by Put for PutOptions that cannot be met: a Size below
	// -1 or a SHA256 that is not 32 bytes long.
	ErrInvalidOptions = errors.New("blob: invalid put options")

	// ErrNoPresign is returned by Presigner.PresignPut when the store is not configured to
	// presign (for example the fs backend without a secret).
	ErrNoPresign = errors.New("blob: presigning not configured")
	// ErrPresignInvalid is returned when verifying a presigned request whose parameters are
	// missing or malformed or whose signature does not match.
	ErrPresignInvalid = errors.New("blob: invalid presigned request")
	// ErrPresignExpired is returned when verifying a correctly signed presigned request
	// after its expiry time.
	ErrPresignExpired = errors.New("blob: presigned request expired")
)
