package blockindex

import "errors"

var (
	// ErrCorrupt: stored index data cannot be decoded.
	ErrCorrupt = errors.New("blockindex: corrupt stored data")
	// ErrNotIndexed: no stored CAR holds the block, or the CAR has no index.
	ErrNotIndexed = errors.New("blockindex: not indexed")
)
