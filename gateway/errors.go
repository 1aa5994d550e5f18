package gateway

import "errors"

var (
	// ErrReadOnly is returned by the Blockstore's writes: the gateway only reads.
	ErrReadOnly = errors.New("gateway: the blockstore is read-only")
	// ErrConfig is returned by New for unusable options.
	ErrConfig = errors.New("gateway: invalid options")
	// ErrMalformed is wrapped by the errors of a stored file's DAG that is not one the
	// gateway streams: deeper than it walks, holding a node that is not part of a file,
	// leaves that do not add up to the size its root gives, or a run of more than
	// MaxBarrenNodes nodes without a byte. Met before the response's first byte it is
	// answered 422 Unprocessable Content (the content, not the service, is at fault);
	// later it cuts the response short.
	ErrMalformed = errors.New("gateway: the stored file's DAG is malformed")
)
