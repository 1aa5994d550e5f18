package dag

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Error is a business failure of an operation: the operation ran, decided it could not do
// what was asked, and the engine issued an error receipt {error: {name, message}} for it.
// Machines return an *Error (or an error wrapping one) to fail an operation with a named
// error; any other error from a machine is an internal failure that aborts the operation
// without a receipt.
type Error struct {
	// Name is the receipt error name, e.g. "EntryExists" or "ShardNotFound".
	Name string
	// Message says what was wrong, for people.
	Message string
}

// Error returns the message (or the name when there is no message).
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Message
}

// Is reports whether target is an *Error with the same Name, so errors.Is(err,
// ErrNotFound) holds for every "NotFound" failure, whoever built it.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Name == e.Name
}

// Failf returns an *Error with the given receipt error name and a formatted message.
func Failf(name, format string, args ...any) error {
	return &Error{Name: name, Message: fmt.Sprintf(format, args...)}
}

// Sentinel errors. Each is an *Error whose Name is the receipt error name; wrap them with
// %w to add context ("put /did:key:z…/store/bag…: %w"), errors.Is still matches and
// ErrorName still finds the name.
var (
	// ErrNotFound: no entry (or field) at the path.
	ErrNotFound = &Error{Name: "NotFound", Message: "not found"}
	// ErrEntryExists: a live entry with a different value is at the path and the machine
	// does not accept it as an update.
	ErrEntryExists = &Error{Name: "EntryExists", Message: "entry exists"}
	// ErrInvalidPath: the path does not parse or does not fit the operation.
	ErrInvalidPath = &Error{Name: "InvalidPath", Message: "invalid path"}
	// ErrInvalidValue: the value does not match the collection's input type (the wrapped
	// error is the schema's path-qualified validation error) or is too large.
	ErrInvalidValue = &Error{Name: "InvalidValue", Message: "invalid value"}
	// ErrUnknownCollection: the subject has no collection of that name.
	ErrUnknownCollection = &Error{Name: "UnknownCollection", Message: "unknown collection"}
	// ErrReadOnlyCollection: the collection is written by the service only.
	ErrReadOnlyCollection = &Error{Name: "ReadOnlyCollection", Message: "collection is written by the service only"}
	// ErrInvalidQuery: a select limit, cursor or status that cannot be used.
	ErrInvalidQuery = &Error{Name: "InvalidQuery", Message: "invalid query"}
	// ErrInvalidTransition: the machine does not accept the event in the entry's state.
	ErrInvalidTransition = &Error{Name: "InvalidTransition", Message: "invalid transition"}
)

// Internal errors: these abort an operation without a receipt.
var (
	// ErrClosed is returned by operations on a closed engine.
	ErrClosed = errors.New("dag: engine closed")
	// ErrBusy is wrapped by the error of every operation of a batch the kv store gave up
	// committing because it kept conflicting with concurrent writers (kv.ErrConflict):
	// nothing of the batch was written, and the same operations may be sent again.
	ErrBusy = errors.New("dag: the store is busy (the commit kept conflicting with other writers); retry later")
	// ErrCommit is wrapped by the error of every operation of a batch that failed to
	// commit for a reason that is not the operation's: the store refused the transaction
	// or could not be reached (PostgreSQL down), or has failed (kv.ErrFailed, also
	// wrapped). Nothing of the batch was written; the same operations may succeed later.
	// The committer logs a run of failed commits itself (once, then once a minute, then
	// the recovery), so whoever handles such an error logs it at LogLevel.
	ErrCommit = errors.New("dag: commit failed")
	// ErrInvalidState is returned when a machine produces a state without a string
	// "status" field, or state that cannot be encoded.
	ErrInvalidState = errors.New("dag: invalid state")
	// ErrCorrupt is returned when stored engine data cannot be decoded.
	ErrCorrupt = errors.New("dag: corrupt stored data")
	// ErrInvalidWrite is returned by Tx.Put for a path that is not a canonical entry path
	// of a collection in the schema (a machine's bug, not the client's).
	ErrInvalidWrite = errors.New("dag: invalid system write")
	// ErrConfig is returned by Open for unusable options.
	ErrConfig = errors.New("dag: invalid options")
	// ErrWrongService is returned by Open when the store was first opened by a service
	// with another DID (meta/service): every process sharing a store must be given the
	// same service key, or receipts of one store would be signed by several services.
	ErrWrongService = errors.New("dag: the store belongs to another service")
	// ErrReservedPrefix is returned by Tx.KV for a prefix that overlaps the engine's keys.
	ErrReservedPrefix = errors.New("dag: prefix reserved for the engine")
	// ErrOutsidePrefix is returned by a Tx.KV view for a key outside its prefix.
	ErrOutsidePrefix = errors.New("dag: key outside the view's prefix")
)

// LogLevel is the level at which a caller logs err, the error of an operation it ran:
// debug for a failed commit (ErrCommit), which the committer has reported already, and
// error otherwise. A store that is down would otherwise give an error record for every
// request and every retry of every background loop.
func LogLevel(err error) slog.Level {
	if errors.Is(err, ErrCommit) {
		return slog.LevelDebug
	}
	return slog.LevelError
}

// ErrorName returns the receipt error name of err: the Name of the first *Error in its
// chain, or "" when err is not a business failure.
func ErrorName(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Name
	}
	return ""
}

// Message is the receipt message of a failure: err's text without the leading message of
// the *Error that names it, which the receipt's name already says. A failure built as
// fmt.Errorf("%w: no entry at %s", ErrNotFound, p) reads "not found: no entry at …" as a Go
// error, and its receipt is {name: "NotFound", message: "no entry at …"}. Text that does not
// start with that message (err wrapped in more context) is kept whole.
func Message(err error) string {
	msg := err.Error()
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		if rest, ok := strings.CutPrefix(msg, e.Message+": "); ok && rest != "" {
			return rest
		}
	}
	return msg
}

// failure wraps a sentinel with a message: errors.Is(err, sentinel) holds and the message
// of the receipt is the full text.
func failure(sentinel *Error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
