package ucan

import (
	"errors"
	"fmt"
)

// Decoding errors. Every error Decode returns wraps ErrMalformed, ErrNonCanonical,
// ErrTooLarge, ErrUnknownTag, ErrUnknownField, ErrMissingField or ErrInvalidField and names
// the offending field or byte offset.
var (
	// ErrMalformed reports bytes that are not a well-formed token envelope.
	ErrMalformed = errors.New("malformed token")
	// ErrNonCanonical reports well-formed CBOR that is not canonical DAG-CBOR.
	ErrNonCanonical = errors.New("non-canonical DAG-CBOR")
	// ErrTooLarge reports a token longer than MaxTokenSize.
	ErrTooLarge = errors.New("token too large")
	// ErrUnknownTag reports a payload tag other than the four supported ones.
	ErrUnknownTag = errors.New("unknown payload tag")
	// ErrUnknownField reports a payload key the specification does not define.
	ErrUnknownField = errors.New("unknown payload field")
	// ErrMissingField reports a required payload field that is absent.
	ErrMissingField = errors.New("missing payload field")
	// ErrInvalidField reports a payload field with a wrong type or value.
	ErrInvalidField = errors.New("invalid payload field")
)

// Names of validation errors, as used by the UCAN 1.0 spec fixtures.
const (
	// InvalidClaim: the chain does not grant the invocation (no proofs and not self-issued,
	// invalid powerline, a proof that is not a delegation, chain too deep).
	InvalidClaim = "InvalidClaim"
	// UnavailableProof: a proof referenced by prf could not be loaded.
	UnavailableProof = "UnavailableProof"
	// Expired: the invocation or a proof is past its exp.
	Expired = "Expired"
	// TooEarly: a proof's nbf is in the future.
	TooEarly = "TooEarly"
	// InvalidAudience: principals do not line up along the chain.
	InvalidAudience = "InvalidAudience"
	// InvalidSubject: a proof's subject is not the invocation's subject.
	InvalidSubject = "InvalidSubject"
	// InvalidSignature: a signature does not verify, or its header does not match the key.
	InvalidSignature = "InvalidSignature"
	// MatchError: a command is not covered or a policy does not match the arguments.
	MatchError = "MatchError"
)

// Error is a validation failure. Name is one of the constants above.
type Error struct {
	Name    string
	Message string
	// Err is the underlying cause, if any.
	Err error
}

// Error returns Name + ": " + Message.
func (e *Error) Error() string { return e.Name + ": " + e.Message }

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

func newError(name string, cause error, format string, args ...any) *Error {
	return &Error{Name: name, Message: fmt.Sprintf(format, args...), Err: cause}
}
