package message

import "errors"

var (
	// ErrMalformed wraps every failure to decode a message: bad CAR framing, a root that is
	// not a w3dag message, blocks that do not hash to their CIDs.
	ErrMalformed = errors.New("malformed message")
	// ErrTooLarge is returned when a message exceeds one of the Limits.
	ErrTooLarge = errors.New("message too large")
)
