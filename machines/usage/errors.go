package usage

import "errors"

var (
	// ErrInvalidRecord is returned by Record for unusable arguments (a subject that is not
	// a did:key space, undefined CIDs) and by ParseRecord for states that are not usage
	// records.
	ErrInvalidRecord = errors.New("usage: invalid record")
	// ErrInvalidWindow is returned by Compute and Report when from is not before to.
	ErrInvalidWindow = errors.New("usage: invalid window")
	// ErrCorrupt is returned when stored usage data cannot be decoded.
	ErrCorrupt = errors.New("usage: corrupt stored data")
)
