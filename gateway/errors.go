package gateway

import "errors"

var (
	// ErrReadOnly is returned by the Blockstore's writes: the gateway only reads.
	ErrReadOnly = errors.New("gateway: the blockstore is read-only")
	// ErrConfig is returned by New for unusable options.
	ErrConfig = errors.New("gateway: invalid options")
)
