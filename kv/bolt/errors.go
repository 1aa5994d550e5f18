package bolt

import (
	"errors"
	"fmt"

	"github.com/w3dag/w3dag/kv"
)

var (
	// ErrCorrupt is returned when the file holds data this package did not write, such as a
	// counter value that is not 8 bytes long or a missing bucket.
	ErrCorrupt = errors.New("bolt: corrupt store")

	// errTxDone is returned by a Tx used after its transaction function returned.
	errTxDone = fmt.Errorf("%w: transaction already finished", kv.ErrClosed)
	// errWriteInScan is returned by writes made from inside a Scan callback.
	errWriteInScan = errors.New("bolt: write from inside a Scan callback")
)
