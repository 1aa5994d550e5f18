package s3

import "errors"

// ErrBadContentRange is returned by Get when the server answers a range request with a
// Content-Range header that cannot be parsed or does not match the request.
var ErrBadContentRange = errors.New("s3: bad Content-Range in response")
