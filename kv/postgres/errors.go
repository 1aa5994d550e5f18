package postgres

import (
	"errors"
	"fmt"

	"github.com/w3dag/w3dag/kv"
)

var (
	// ErrInvalidSchema is returned by Open for a schema name PostgreSQL cannot hold as is.
	ErrInvalidSchema = errors.New("postgres: invalid schema name")
	// ErrTooManyRetries is returned (wrapping the last database error) when a transaction
	// still conflicted after MaxAttempts attempts.
	// It wraps kv.ErrConflict.
	ErrTooManyRetries = fmt.Errorf("postgres: transaction conflicted too many times: %w", kv.ErrConflict)

	// errTxDone is returned by a Tx used after its transaction function returned.
	errTxDone = fmt.Errorf("%w: transaction already finished", kv.ErrClosed)
	// errWriteInScan is returned by writes made from inside a Scan callback.
	errWriteInScan = errors.New("postgres: write from inside a Scan callback")
)
