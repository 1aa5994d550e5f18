package server

import (
	"bufio"
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
// Options.ReadHeaderTimeout (the connection is closed; DefaultReadHeaderTimeout when zero):
// a client cannot hold a connection, or megabytes of buffers, by sending headers slowly
// or endlessly. The time limit is tried at a short Options.ReadHeaderTimeout; that zero
// means the default is checked on the Options New keeps.
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
	t.Run("default", func(t *testing.T) {
		if got := newHarness(t, harnessOptions{}).srv.opts.ReadHeaderTimeout; got != DefaultReadHeaderTimeout {
			t.Errorf("Options.ReadHeaderTimeout zero: %s, want DefaultReadHeaderTimeout %s", got, DefaultReadHeaderTimeout)
		}
	})
	t.Run("time", func(t *testing.T) {
		const limit = 500 * time.Millisecond
		addr, _ := serveBlobs(t, func(o *Options) { o.ReadHeaderTimeout = limit })
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(start.Add(limit + 3*time.Second)) // well before DefaultReadHeaderTimeout
		_, err = io.Copy(io.Discard, conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("a connection whose headers never end was still open after %s (ReadHeaderTimeout %s)", time.Since(start), limit)
		}
		if d := time.Since(start); d < limit-100*time.Millisecond {
			t.Errorf("closed after %s, before ReadHeaderTimeout %s", d, limit)
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

// A POST /ucan body must arrive whole within MessageReadTimeout, however steadily it
// trickles: a sender keeping up the minimum rate cannot hold its connection past it (408
// or the connection closed).
func TestMessageReadTimeout(t *testing.T) {
	const limit = time.Second
	addr, _ := serveBlobs(t, func(o *Options) {
		o.MinBodyRate = 1 // one byte a second keeps up: only the whole-body time can end it
		o.MessageReadTimeout = limit
	})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := fmt.Fprintf(conn, "POST /ucan HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.ipld.car\r\nContent-Length: 1000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// A byte every 100 ms (10 B/s, ten times the minimum rate) until the server answers.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte{0}); err != nil {
					return
				}
			}
		}
	}()
	conn.SetReadDeadline(start.Add(limit + 10*time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	elapsed := time.Since(start)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("a trickling body was still being read after %s (MessageReadTimeout %s)", elapsed, limit)
	case err == nil && resp.StatusCode != http.StatusRequestTimeout:
		t.Fatalf("a body past MessageReadTimeout: HTTP %d, want 408", resp.StatusCode)
	}
	if elapsed < limit-100*time.Millisecond {
		t.Errorf("cut off after %s, before MessageReadTimeout %s", elapsed, limit)
	}
	t.Logf("cut off after %s (%v)", elapsed.Round(time.Millisecond), err)
}

// A keep-alive connection idle for IdleTimeout is closed by the server.
func TestIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	addr, _ := serveBlobs(t, func(o *Options) { o.IdleTimeout = idle })
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 || resp.Close {
		t.Fatalf("healthz on a keep-alive connection: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	conn.SetReadDeadline(start.Add(10 * time.Second))
	_, err = br.ReadByte()
	elapsed := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("an idle keep-alive connection was still open after %s (IdleTimeout %s)", elapsed, idle)
	}
	if err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF", err)
	}
	if elapsed < idle-50*time.Millisecond {
		t.Errorf("closed after %s, before IdleTimeout %s", elapsed, idle)
	}
}
