package metrics

import "errors"

// ErrInvalidName is returned for a metric name that is empty, too long or has characters
// other than lower-case letters, digits, '-' and '/' (or '/' at either end or twice).
var ErrInvalidName = errors.New("metrics: invalid metric name")

// ErrInvalidSubject is returned for an empty subject or one longer than collection.MaxSubjectLength.
var ErrInvalidSubject = errors.New("metrics: invalid subject")

// ErrInvalidState is returned when a stored metric entry's state has no integer "value".
var ErrInvalidState = errors.New("metrics: invalid metric state")

// ErrInvalidInvocation is returned by ParseInvocation and Apply for a token that is not a
// well-formed Command invocation of the service.
var ErrInvalidInvocation = errors.New("metrics: invalid metrics invocation")

// ErrOutOfOrder is returned by Apply when the invocation is applied at another commit
// sequence or time than the one it names.
var ErrOutOfOrder = errors.New("metrics: invocation applied out of order")
