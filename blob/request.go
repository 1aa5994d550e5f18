package blob

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// NewHTTPRequest builds the net/http request that performs r with body as its body. The
// Content-Length header of r becomes the request's ContentLength (net/http ignores the
// header itself); every other header is set as given.
func (r Request) NewHTTPRequest(ctx context.Context, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return nil, fmt.Errorf("building presigned request: %w", err)
	}
	for k, v := range r.Headers {
		if http.CanonicalHeaderKey(k) == "Content-Length" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("building presigned request: bad Content-Length %q", v)
			}
			req.ContentLength = n
			continue
		}
		req.Header.Set(k, v)
	}
	return req, nil
}
