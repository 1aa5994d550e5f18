package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/client/unixfs"
)

// TestChangedHint checks that up says a file may have changed only for the failures a
// changed file causes: the receiver refusing the bytes as not the signed digest or size
// (the service's 400, S3's BadDigest) and a file read shorter, not for any other 400.
func TestChangedHint(t *testing.T) {
	const c = "bagbaierabmt3ixhbi7oy3kwfl4jtxjtc6sfxuqw2kvbmhspxq4omjvuwtjvq"
	// reply is a PUT's failure as putBytes returns it, from a response with body.
	reply := func(status int, contentType, body string) error {
		resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {contentType}},
			Body: io.NopCloser(strings.NewReader(body))}
		return client.ErrorFromResponse(resp)
	}
	service := func(status int, msg string) error { // as server.writeError writes it
		return reply(status, "application/json", fmt.Sprintf(`{"error":{"name":"BadRequest","message":%q}}`, msg))
	}
	for _, tc := range []struct {
		name string
		err  error
		hint bool
	}{
		{"digest", service(400, "uploading "+c+": uploading "+c+": "+blob.ErrDigestMismatch.Error()), true},
		{"size", service(400, "uploading "+c+": fs: put: "+blob.ErrSizeMismatch.Error()+": 10 bytes, want 11"), true},
		{"s3 BadDigest", reply(400, "application/xml", `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>BadDigest</Code><Message>The SHA256 you specified did not match the calculated checksum.</Message></Error>`), true},
		{"shorter file", fmt.Errorf("reading: %w", unixfs.ErrFileChanged), true},
		{"body cut short", service(400, "uploading "+c+": the body ended before its Content-Length of 11 bytes"), false},
		{"bad CID", service(400, `"x" is not a CID: invalid cid`), false},
		{"digest but 403", service(403, blob.ErrDigestMismatch.Error()), false},
		{"unreachable", errors.New("dial tcp: connection refused"), false},
	} {
		err := changedHint(tc.err)
		if got := strings.Contains(err.Error(), "a file changed"); got != tc.hint {
			t.Errorf("%s: changedHint(%v) = %v, hint %v, want %v", tc.name, tc.err, err, got, tc.hint)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: changedHint(%v) = %v does not wrap it", tc.name, tc.err, err)
		}
	}
}
