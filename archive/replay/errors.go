package replay

import "errors"

var (
	// ErrConfig is returned by Run when a required option is missing.
	ErrConfig = errors.New("replay: bad configuration")
	// ErrMalformed is returned by Load for an archived message that matches its CID but
	// is not an agent message (or a reply whose receipt does not decode).
	ErrMalformed = errors.New("replay: malformed archived message")
)
