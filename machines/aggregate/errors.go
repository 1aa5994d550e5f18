package aggregate

import "errors"

var (
	// ErrBounds is returned by Bounds.Check (and New) for bounds no aggregate can meet:
	// a minimum of 0 or above the maximum, a maximum under one smallest piece or over
	// the largest deal, or a minimum that the pieces of the maximum's deal cannot reach
	// once its index is set aside.
	ErrBounds = errors.New("aggregate: invalid bounds")
	// ErrMember is the (permanent) failure of an include task whose member piece entry
	// is missing, holds another piece CID, or is aggregated in another aggregate: the
	// store is inconsistent.
	ErrMember = errors.New("aggregate: inconsistent member piece")
	// ErrNotReady is the (permanent) failure of an include task whose aggregate entry is
	// missing or has no aggregate piece CID.
	ErrNotReady = errors.New("aggregate: the aggregate is not ready")
)

var (
	// ErrUnknownAggregate is returned by Lookup and Report for a piece CID no ready
	// aggregate has.
	ErrUnknownAggregate = errors.New("aggregate: unknown aggregate")
	// ErrConflict is returned by Report for an aggregate whose state does not take the
	// report: not deal_pending, or already processed with another outcome.
	ErrConflict = errors.New("aggregate: the aggregate does not take this report")
	// ErrNotAcknowledged is the (retried) failure of an offer task whose offer the
	// broker did not acknowledge (a status other than 200 or 202).
	ErrNotAcknowledged = errors.New("aggregate: the broker did not acknowledge the offer")
	// ErrRefused is the (permanent) failure of an offer task whose offer the broker
	// refused with a 4xx answer other than 408 and 429: the task fails with the answer.
	ErrRefused = errors.New("aggregate: the broker refused the offer")
)
