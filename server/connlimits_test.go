package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Request headers are bounded by MaxHeaderBytes (431) and must arrive within
// ReadHeaderTimeout (the connection is closed): a client cannot hold a connection, or
// megabytes of buffers, by sending headers slowly or endlessly.
func TestHeaderLimits(t *testing.T) {
	t.Parallel()
	addr, _ := serveBlobs(t, nil)
	t.Run("size", func(t *testing.T) {
		head := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", MaxHeaderBytes+8<<10) + "\r\n\r\n"
		st, err := rawRequest(t, addr, head, nil, false, 10*time.Second)
		if err != nil || st != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("headers of %d bytes: HTTP %d (%v), want 431", len(head), st, err)
		}
		within := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"
		if st, err := rawRequest(t, addr, within, nil, false, 10*time.Second); err != nil || st != http.StatusOK {
			t.Errorf("headers of %d bytes: HTTP %d (%v), want 200", len(within), st, err)
		}
	})
	t.Run("time", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(start.Add(ReadHeaderTimeout + 10*time.Second))
		_, err = io.Copy(io.Discard, conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("a connection whose headers never end was still open after %s (ReadHeaderTimeout %s)", time.Since(start), ReadHeaderTimeout)
		}
		if d := time.Since(start); d < ReadHeaderTimeout-time.Second {
			t.Errorf("closed after %s, before ReadHeaderTimeout %s", d, ReadHeaderTimeout)
		}
	})
}

// An Authorization header longer than MaxBearerSize is refused (401 naming the limit)
// before it is decoded; one at the limit is decoded (and refused for what it holds).
func TestBearerSize(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	limit := fmt.Sprintf("the limit is %d", MaxBearerSize)
	for _, tc := range []struct {
		name      string
		size      int
		wantLimit bool
	}{
		{"at the limit", MaxBearerSize, false},
		{"past the limit", MaxBearerSize + 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.watchRequest(context.Background(), "notes", "Bearer "+strings.Repeat("A", tc.size), "")
			msg := checkJSONError(t, resp, http.StatusUnauthorized, NameUnauthorized)
			if strings.Contains(msg, limit) != tc.wantLimit {
				t.Errorf("bearer of %d bytes: %q; want naming %q: %t", tc.size, msg, limit, tc.wantLimit)
			}
		})
	}
}
