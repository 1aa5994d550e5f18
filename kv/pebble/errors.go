package pebble

import (
	"errors"
	"fmt"

	"github.com/w3dag/w3dag/kv"
)

var (
	// ErrCorrupt is returned when the store holds data this package did not write, such as
	// a counter value that is not 8 bytes long.
	ErrCorrupt = errors.New("pebble: corrupt store")
	// ErrFailed is returned by Update after a commit failed to reach the disk: the store
	// may hold writes that are not durable, so it takes no more writes until reopened.
	// It wraps kv.ErrFailed.
	ErrFailed = fmt.Errorf("%w: a pebble commit failed to reach the disk", kv.ErrFailed)
	// ErrLocked is returned by Open when another process has the store open (Pebble
	// locks the directory's LOCK file while a store is open).
	ErrLocked = errors.New("pebble: the store is open in another process")
	// ErrNoSpace is returned by Open when the store's file system has less free space
	// than opening it needs: Pebble flushes the write-ahead log it replays before Open
	// returns, and on a full disk it would retry that flush for ever.
	ErrNoSpace = errors.New("pebble: not enough free space to open the store")

	// errTxDone is returned by a Tx used after its transaction function returned.
	errTxDone = fmt.Errorf("%w: transaction already finished", kv.ErrClosed)
	// errWriteInScan is returned by writes made from inside a Scan callback.
	errWriteInScan = errors.New("pebble: write from inside a Scan callback")
)
