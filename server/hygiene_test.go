package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/message"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveBlobs runs a Server with fakeBlobs on a real listener (deadlines apply there, not
// with httptest's recorder) and returns its address and the log it writes.
func serveBlobs(t *testing.T, tune func(*Options)) (string, *syncBuffer) {
	t.Helper()
	h := newHarness(t, harnessOptions{})
	logs := &syncBuffer{}
	opts := h.srv.opts
	opts.Registerer, opts.Gatherer = nil, nil
	opts.Blobs = fakeBlobs{store: mem.New()}
	opts.Archive = archive.New(mem.New(), archive.Options{})
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if tune != nil {
		tune(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String(), logs
}

// rawRequest writes head and then body on a new connection, closes its write side when
// closeWrite, and returns the response status (the connection has a deadline of limit).
func rawRequest(t *testing.T, addr, head string, body []byte, closeWrite bool, limit time.Duration) (int, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(limit))
	if _, err := conn.Write(append([]byte(head), body...)); err != nil {
		return 0, err
	}
	if closeWrite {
		conn.(*net.TCPConn).CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// A client that announces more bytes than it sends caused the failure: 4xx, and no
// ERROR in the log (it was 500 and an ERROR).
func TestPutBlobCutShort(t *testing.T) {
	addr, logs := serveBlobs(t, nil)
	data := []byte("pretend this is a CAR")
	c := message.Sum(message.CodecCAR, data)
	head := fmt.Sprintf("PUT /blob/%s?sig=ok HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", c, 1000)
	status, err := rawRequest(t, addr, head, data, true, 10*time.Second)
	if err != nil {
		t.Fatalf("no response to a short body: %v", err)
	}
	if status < 400 || status >= 500 {
		t.Errorf("short body: HTTP %d, want 4xx", status)
	}
	if l := logs.String(); strings.Contains(l, "level=ERROR") {
		t.Errorf("a short body was logged as an error:\n%s", l)
	}
}
