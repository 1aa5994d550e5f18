package receipts

import "errors"

var (
	// ErrNotReceipt: the token is not a receipt (a delegation, another command, or
	// iss, sub and aud are not one principal).
	ErrNotReceipt = errors.New("not a receipt")
	// ErrMalformed: the receipt's args or meta do not have the receipt shape.
	ErrMalformed = errors.New("malformed receipt")
	// ErrWrongIssuer: the receipt was not issued by the expected service.
	ErrWrongIssuer = errors.New("receipt not issued by the service")
	// ErrBadSignature: the receipt's signature does not verify.
	ErrBadSignature = errors.New("receipt signature does not verify")
	// ErrBrokenChain: a receipt in a chain could not be loaded, does not match the CID
	// that links it, or is about another path.
	ErrBrokenChain = errors.New("broken receipt chain")
)
