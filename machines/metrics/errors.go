package metrics

import "errors"

// ErrInvalidName is returned for a metric name that is empty, too long or has characters
// other than lower-case letters, digits, '-' and '/' (or '/' at either end or twice).
var ErrInvalidName = errors.New("metrics: invalid metric name")

// ErrInvalidSubject is returned for an empty subject or one longer than collection.MaxSubjectLength.
var ErrInvalidSubject = errors.New("metrics: invalid subject")
