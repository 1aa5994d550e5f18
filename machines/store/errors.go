package store

import "errors"

var (
	// ErrUnsupportedCID is returned by Blobs for a CID that is not a sha2-256 CAR CID: no
	// store entry can have it, so there are no bytes to upload or read.
	ErrUnsupportedCID = errors.New("store: not a sha2-256 CAR CID")
	// ErrConfig is returned by New and NewBlobs for unusable options.
	ErrConfig = errors.New("store: invalid options")
	// ErrNotDue is returned by the expiry handler when its task runs before the entry's
	// deadline (the clocks of the runner and the engine disagree); the runner retries it.
	ErrNotDue = errors.New("store: entry not yet expired")
	// ErrCorrupt is returned for stored store data that cannot be decoded.
	ErrCorrupt = errors.New("store: corrupt stored data")
)

// Receipt error names of store failures (besides the engine's InvalidValue, EntryExists).
const (
	// NameTooLarge: the put's size is above the blob limit.
	NameTooLarge = "TooLarge"
)
