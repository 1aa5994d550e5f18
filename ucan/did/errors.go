package did

import "errors"

var (
	// ErrInvalidDID reports a string that is not a did:key this package can parse.
	ErrInvalidDID = errors.New("did: invalid did:key")
	// ErrUnsupportedKey reports a did:key or private key of a type this package does not support.
	ErrUnsupportedKey = errors.New("did: unsupported key type")
	// ErrInvalidPrivateKey reports a malformed private key encoding.
	ErrInvalidPrivateKey = errors.New("did: invalid private key")
	// ErrKeyFileExists is returned by WriteKeyFile when the target file already exists.
	ErrKeyFileExists = errors.New("did: key file already exists")
)
