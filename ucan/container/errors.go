package container

import "errors"

// ErrInvalid is wrapped by every error Decode returns for malformed input.
var ErrInvalid = errors.New("invalid ucan container")

// ErrTooLarge is wrapped by the error Decode returns when the decoded payload
// would exceed MaxDecodedSize or hold more than MaxTokens tokens, and by the
// error Encode returns for such a set of tokens.
var ErrTooLarge = errors.New("ucan container too large")

// ErrUnknownHeader is wrapped by the errors Encode and Decode return for a
// header byte that is not one of the six defined ones.
var ErrUnknownHeader = errors.New("unknown ucan container header")
