//go:build unix

package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smallBuffers is a socket Control function shrinking the socket's kernel buffers to
// their minimum, so a peer that stops reading blocks the writer after a few KiB instead of
// megabytes. Accepted sockets inherit the listening socket's buffer sizes.
func smallBuffers(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		for _, opt := range []int{syscall.SO_SNDBUF, syscall.SO_RCVBUF} {
			if err := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 1024); err != nil {
				serr = err
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// watchGauge reads w3dag_watchers from GET /metrics.
func watchGauge(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := string(readAll(t, resp))
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, "w3dag_watchers "); ok {
			return v
		}
	}
	t.Fatalf("GET /metrics has no w3dag_watchers:\n%s", body)
	return ""
}

// A watcher that stops reading is dropped once a write has waited WatchWriteTimeout, and
// everything it held is released: its place among the watchers (MaxWatchersPerSpace is 1
// here, so a new watch of the space is admitted again), the w3dag_watchers gauge, the
// handler's and connection's goroutines, and the connection itself (the client reads the
// end of it). Before Options.WatchWriteTimeout the deadline was a fixed 30 s, far past this
// test's 10 s: a stalled reader kept its place and goroutines that long.
func TestWatchWriteDeadline(t *testing.T) {
	const writeTimeout = 300 * time.Millisecond
	h := newHarness(t, harnessOptions{})
	opts := h.srv.opts
	opts.Registerer, opts.Gatherer = nil, nil
	opts.MaxWatchersPerSpace = 1
	opts.WatchHeartbeat = time.Millisecond // a heartbeat a millisecond fills the buffers fast
	opts.WatchWriteTimeout = writeTimeout
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := (&net.ListenConfig{Control: smallBuffers}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(func() { srv.Close(); hs.Close() })
	http.DefaultClient.CloseIdleConnections()
	auth := bearer(t, invoke(t, h.space, h.space.DID(), "/dag/get", `{}`))
	head := fmt.Sprintf("GET /watch/%s/notes HTTP/1.1\r\nHost: w3dag.test\r\nAuthorization: %s\r\n\r\n", h.space.DID(), auth)
	// open starts a watch on a raw connection with small buffers and reads its headers.
	open := func() (net.Conn, *bufio.Reader, int) {
		t.Helper()
		conn, err := (&net.Dialer{Control: smallBuffers}).Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReaderSize(conn, 16)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		return conn, br, resp.StatusCode
	}
	before := runtime.NumGoroutine()

	stalled, br, status := open()
	defer stalled.Close()
	if status != http.StatusOK {
		t.Fatalf("watch: HTTP %d, want 200", status)
	}
	for wait := time.Now().Add(5 * time.Second); watchGauge(t, hs.URL) != "1"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatalf("w3dag_watchers = %s with one stream open, want 1", watchGauge(t, hs.URL))
		}
	}
	// The client reads no more. Within a few write timeouts (filling the small buffers
	// takes a moment), the server gives up on it.
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for watchGauge(t, hs.URL) != "0" {
		if time.Now().After(deadline) {
			t.Fatalf("a watcher that stopped reading was still served after %s (write timeout %s)", time.Since(start), writeTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("stalled watcher dropped after %s (write timeout %s)", time.Since(start).Round(time.Millisecond), writeTimeout)
	// Its connection was closed: what the kernel buffered, then the end.
	stalled.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the stalled watcher's connection was not closed (read %d bytes, then %v)", n, err)
	}
	// Its place is free: the space's one watch slot admits a new stream.
	again, _, status := open()
	if status != http.StatusOK {
		t.Fatalf("watch after the stalled one was dropped: HTTP %d, want 200 (its place was not freed)", status)
	}
	again.Close()
	stalled.Close()
	http.DefaultClient.CloseIdleConnections()
	// The goroutines are gone: the handler's and the connection's.
	deadline = time.Now().Add(5 * time.Second)
	for {
		g := runtime.NumGoroutine()
		if g <= before {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after the watchers ended, %d before:\n%s", g, before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if g := watchGauge(t, hs.URL); g != "0" {
		t.Errorf("w3dag_watchers = %s after every stream ended, want 0", g)
	}
}
