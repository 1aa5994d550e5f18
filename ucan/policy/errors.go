package policy

import "errors"

// ErrInvalidPolicy is wrapped by every error Parse returns.
var ErrInvalidPolicy = errors.New("invalid policy")

// ErrInvalidSelector is wrapped by every error ParseSelector returns.
var ErrInvalidSelector = errors.New("invalid selector")

// ErrNoMatch is wrapped by the error Policy.Check returns when a statement
// does not hold.
var ErrNoMatch = errors.New("policy not satisfied")

// ErrUnresolved is wrapped by the error Selector.Select returns when a
// non-optional segment cannot be applied (missing key, index out of range,
// wrong kind).
var ErrUnresolved = errors.New("selector did not resolve")

// ErrTooComplex is wrapped by the errors Policy.Check and Selector.Select
// return when evaluation would take more than MaxMatchSteps steps.
var ErrTooComplex = errors.New("policy evaluation too complex")
