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

// LoadError is an error Load or LoadSources found in one schema source. It wraps
// ErrSchema and the cause.
type LoadError struct {
	// Source is the name of the source at fault (Source.Name, "extension N" for an
	// unnamed one, SystemSourceName for the system schema).
	Source string
	// Line is the 1-based line of the definition, field or syntax error at fault; 0 when
	// no line can be told.
	Line int
	// Err says what is wrong, e.g. `union Foo: representation "envelope" is not
	// supported (use inline or keyed)`.
	Err error
}

// Error formats the error as "<source>:<line>: <message>" ("<source>: <message>" when no
// line is known).
func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Source, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Source, e.Err)
}

// Unwrap returns ErrSchema and the cause, so errors.Is(err, ErrSchema) holds.
func (e *LoadError) Unwrap() []error { return []error{ErrSchema, e.Err} }
