package gateway

import "errors"

var (
	// ErrReadOnly is returned by the Blockstore's writes: the gateway only reads.
	ErrReadOnly = errors.New("gateway: the blockstore is read-only")
	// ErrConfig is returned by New for unusable options.
	ErrConfig = errors.New("gateway: invalid options")
	// ErrMalformed is wrapped by the errors of a stored DAG the gateway will not serve: a
	// file's deeper than it walks, holding a node that is not part of a file, leaves that
	// do not add up to the size its root gives, a run of more than MaxBarrenNodes nodes
	// without a byte; and any DAG of which a request reads more than MaxReadsWithoutWrite
	// blocks while its response writes nothing. Met before the response's first byte it
	// is answered 422 Unprocessable Content (the content, not the service, is at fault)
	// when the gateway streams the file itself; later it cuts the response short.
	ErrMalformed = errors.New("gateway: the stored DAG is malformed")
)
