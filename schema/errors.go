package schema

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every *ValidationError: the value does not match
// the type it was validated against.
var ErrInvalid = errors.New("invalid value")

// ErrSchema is wrapped by every error Load returns for a schema source that
// does not parse, does not compile, or breaks one of the rules of the system
// schema or of extensions.
var ErrSchema = errors.New("invalid schema")

// ErrUnknownType is returned by Validate for a type name the schema does
// not define.
var ErrUnknownType = errors.New("unknown type")

// ValidationError says where in a value validation failed and why.
type ValidationError struct {
	// Path is the location inside the validated value, as a JSON pointer
	// ("/" for the value itself, "/shards/2" for the third element of the
	// shards field). Segments containing "~" or "/" are escaped as in RFC
	// 6901; the path is shortened from the front beyond MaxErrorPath bytes.
	Path string
	// Type is the schema type expected at Path, e.g. "StoreInput",
	// "[&Any]" or "{String:String}".
	Type string
	// Message says what was wrong, e.g. "expected a link, got string".
	Message string
}

// Error formats the error as "at <path> (type <type>): <message>".
func (e *ValidationError) Error() string {
	return fmt.Sprintf("at %s (type %s): %s", e.Path, e.Type, e.Message)
}

// Unwrap returns ErrInvalid, so errors.Is(err, ErrInvalid) holds.
func (e *ValidationError) Unwrap() error { return ErrInvalid }
