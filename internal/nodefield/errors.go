package nodefield

import "errors"

var (
	// ErrNotMap is returned when the node read is not a map (or is nil).
	ErrNotMap = errors.New("not a map")
	// ErrMissing is returned when the map has no such field, or it is null.
	ErrMissing = errors.New("no such field")
	// ErrKind is returned when the field is not of the kind asked for.
	ErrKind = errors.New("wrong kind")
)
