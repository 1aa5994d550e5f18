package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan/did"
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

// trickle opens a connection, sends head and the first bytes of a body announced much
// longer, and keeps it open (closed when the test ends). The returned channel receives
// the response status, or 0 when the server closes the connection without one.
func trickle(t *testing.T, addr, head string) <-chan int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte(head + "0123456789")); err != nil {
		t.Fatal(err)
	}
	out := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			out <- 0
			return
		}
		resp.Body.Close()
		out <- resp.StatusCode
	}()
	return out
}

// waitStatus waits up to limit for a trickling request's outcome.
func waitStatus(t *testing.T, what string, ch <-chan int, limit time.Duration) int {
	t.Helper()
	select {
	case st := <-ch:
		return st
	case <-time.After(limit):
		t.Fatalf("%s: no outcome within %s", what, limit)
	}
	return 0
}

// Slow POST /ucan bodies do not take the execution turns: with every turn's worth of
// senders trickling, a whole request is answered at once, and the tricklers are cut off
// after BodyRateGrace (they held all turns for DefaultMessageReadTimeout, 60 s).
func TestSlowBodiesTakeNoTurns(t *testing.T) {
	addr, _ := serveBlobs(t, func(o *Options) { o.MaxInFlight = 2 })
	head := "POST /ucan HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.ipld.car\r\nContent-Length: 100000\r\n\r\n"
	var slow []<-chan int
	for range 4 {
		slow = append(slow, trickle(t, addr, head))
	}
	time.Sleep(200 * time.Millisecond) // let the server read the heads
	body := []byte("not a CAR")
	whole := fmt.Sprintf("POST /ucan HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.ipld.car\r\nContent-Length: %d\r\n\r\n", len(body))
	status, err := rawRequest(t, addr, whole, body, false, 3*time.Second)
	if err != nil {
		t.Fatalf("a whole request behind %d slow ones got no answer within 3 s: %v", len(slow), err)
	}
	if status != http.StatusBadRequest {
		t.Errorf("malformed body: HTTP %d, want 400", status)
	}
	for i, ch := range slow {
		if st := waitStatus(t, "slow body", ch, BodyRateGrace+10*time.Second); st != 0 && st != http.StatusRequestTimeout {
			t.Errorf("slow body %d: HTTP %d, want 408 or a closed connection", i, st)
		}
	}
}

// PUT /blob: one upload at a time per upload URL (409), at most MaxUploads at once (503
// with Retry-After), and a body slower than MinBodyRate is cut off (408). Before, any
// number of connections could use one URL, with no cap and no rate.
func TestUploadAdmission(t *testing.T) {
	addr, logs := serveBlobs(t, func(o *Options) { o.MaxUploads = 2 })
	data := []byte("pretend this is a CAR")
	c := message.Sum(message.CodecCAR, data)
	slowHead := func(c string) string {
		return fmt.Sprintf("PUT /blob/%s?sig=ok HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", c)
	}
	first := trickle(t, addr, slowHead(c.String()))
	time.Sleep(200 * time.Millisecond)
	whole := fmt.Sprintf("PUT /blob/%s?sig=ok HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", c, len(data))
	if st, err := rawRequest(t, addr, whole, data, false, 3*time.Second); err != nil || st != http.StatusConflict {
		t.Errorf("second upload through the same URL: HTTP %d (%v), want 409", st, err)
	}
	other := message.Sum(message.CodecCAR, []byte("another"))
	second := trickle(t, addr, slowHead(other.String()))
	time.Sleep(200 * time.Millisecond)
	third := message.Sum(message.CodecCAR, []byte("a third"))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(conn, "PUT /blob/%s?sig=ok HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\na third", third)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("upload beyond MaxUploads: %v %v, want 503 with Retry-After", resp, err)
	}
	for _, ch := range []<-chan int{first, second} {
		if st := waitStatus(t, "slow upload", ch, BodyRateGrace+10*time.Second); st != 0 && st != http.StatusRequestTimeout {
			t.Errorf("slow upload: HTTP %d, want 408 or a closed connection", st)
		}
	}
	// The places are free again.
	if st, err := rawRequest(t, addr, whole, data, false, 3*time.Second); err != nil || st != http.StatusOK {
		t.Errorf("upload after the slow ones were cut off: HTTP %d (%v), want 200", st, err)
	}
	if l := logs.String(); strings.Contains(l, "level=ERROR") {
		t.Errorf("slow uploads were logged as errors:\n%s", l)
	}
}

// GET /watch streams are capped per subject (429) and in total (503); a closed stream
// frees its place. Before, any number could be open.
func TestWatcherCaps(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	opts := h.srv.opts
	opts.Registerer, opts.Gatherer = nil, nil
	opts.MaxWatchers, opts.MaxWatchersPerSpace = 3, 2
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := func(space did.Signer) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, "GET", hs.URL+"/watch/"+space.DID()+"/notes", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", bearer(t, invoke(t, space, space.DID(), "/dag/get", `{}`)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first, second := watch(h.space), watch(h.space)
	for _, r := range []*http.Response{first, second} {
		if r.StatusCode != 200 {
			t.Fatalf("watch within the caps: HTTP %d", r.StatusCode)
		}
	}
	checkJSONError(t, watch(h.space), http.StatusTooManyRequests, NameTooManyWatchers)
	other := mustKey(t)
	third := watch(other)
	if third.StatusCode != 200 {
		t.Fatalf("watch of another space: HTTP %d", third.StatusCode)
	}
	checkJSONError(t, watch(mustKey(t)), http.StatusServiceUnavailable, NameUnavailable)
	first.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := watch(h.space)
		if r.StatusCode == 200 {
			r.Body.Close()
			break
		}
		r.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream's place was not freed within 10 s: HTTP %d", r.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	second.Body.Close()
	third.Body.Close()
}
