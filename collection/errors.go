package collection

import "errors"

// Sentinel errors. Every error this package returns is an *Error that matches one of them
// with errors.Is.
var (
	// ErrInvalidPath: a path, or one of its segments, does not follow the grammar.
	ErrInvalidPath = errors.New("invalid path")
	// ErrInvalidKey: a key does not follow its collection's KeyRule.
	ErrInvalidKey = errors.New("invalid key")
	// ErrInvalidSpec: a Spec that cannot be registered (Spec.Check).
	ErrInvalidSpec = errors.New("invalid collection spec")
)

// Error is what was wrong with a path, key or spec. Its message says what, without a
// prefix, so callers can put it in their own words ("InvalidPath: path "/…": …").
type Error struct {
	// Kind is ErrInvalidPath, ErrInvalidKey or ErrInvalidSpec.
	Kind error
	// Reason says what was wrong, for people.
	Reason string
}

// Error returns the reason.
func (e *Error) Error() string { return e.Reason }

// Is reports whether target is e's kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

func pathError(reason string) error { return &Error{Kind: ErrInvalidPath, Reason: reason} }
