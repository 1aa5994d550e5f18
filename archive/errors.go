package archive

import "errors"

var (
	// ErrNotFound is returned by Get for a message the archive does not hold.
	ErrNotFound = errors.New("archive: message not found")
	// ErrWrite wraps every failure to store a message or an index link: callers must not
	// run the invocations of a request message whose write failed.
	ErrWrite = errors.New("archive: write failed")
	// ErrCorrupt is returned when stored bytes do not hash to the CID they are kept under.
	ErrCorrupt = errors.New("archive: stored message does not match its CID")
)
