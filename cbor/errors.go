package cbor

import "errors"

var (
	// ErrMalformed is wrapped by the errors ReadHead returns for input that is not
	// well-formed CBOR: a head cut short, or reserved additional information (28-30).
	ErrMalformed = errors.New("malformed CBOR")
	// ErrNonCanonical is wrapped by the errors ReadHead returns for well-formed CBOR that
	// DAG-CBOR forbids: an argument not in its shortest form, or an indefinite length.
	ErrNonCanonical = errors.New("non-canonical DAG-CBOR")
	// ErrUnencodable is wrapped by the errors AppendNode and Encode return for a node
	// DAG-CBOR cannot represent.
	ErrUnencodable = errors.New("not encodable as DAG-CBOR")
)

// HeadError is the error ReadHead returns. Err is ErrMalformed or ErrNonCanonical; Reason
// says what is wrong, without the byte offset, which only the caller knows.
type HeadError struct {
	Err    error
	Reason string
}

// Error returns "cbor: " + Reason.
func (e *HeadError) Error() string { return "cbor: " + e.Reason }

// Unwrap returns Err.
func (e *HeadError) Unwrap() error { return e.Err }
