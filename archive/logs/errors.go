package logs

import "errors"

var (
	// ErrConfig: Options lack something New needs.
	ErrConfig = errors.New("logs: bad configuration")
	// ErrCorrupt: the exporter's kv state, a commit-log receipt or the invocation it ran
	// cannot be read as what it should be.
	ErrCorrupt = errors.New("logs: corrupt export state or log record")
	// ErrMoved: another exporter moved the position while this one wrote a chunk (its
	// files were the same; nothing to do but read the position again).
	ErrMoved = errors.New("logs: export position moved by another exporter")
)
