package server

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/container"
)

type sseEvent struct {
	id, event, data string
}

// readEvents reads n events from an SSE stream, skipping comments.
func readEvents(t *testing.T, sc *bufio.Scanner, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.data != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
	if len(out) < n {
		t.Fatalf("stream ended after %d events (%v)", len(out), sc.Err())
	}
	return out
}

func bearer(t *testing.T, tokens ...*ucan.Token) string {
	t.Helper()
	var raws [][]byte
	for _, tok := range tokens {
		raws = append(raws, tok.Raw)
	}
	b, err := container.Encode(container.HeaderBase64, raws)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + string(b)
}

func (h *harness) watchRequest(ctx context.Context, path, auth, lastID string) *http.Response {
	h.t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", h.http.URL+"/watch/"+h.space.DID()+"/"+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func TestWatch(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	agent := mustKey(t)
	read := delegate(t, h.space, agent.DID(), h.space.DID(), "/dag/get")
	auth := bearer(t, invoke(t, agent, h.space.DID(), "/dag/get", `{"path": "notes"}`, read), read)

	// Refusals.
	ctx := context.Background()
	checkJSONError(t, h.watchRequest(ctx, "notes", "", ""), 401, NameUnauthorized)
	checkJSONError(t, h.watchRequest(ctx, "notes", "Bearer !!!", ""), 401, NameUnauthorized)
	noChain := bearer(t, invoke(t, agent, h.space.DID(), "/dag/get", `{}`))
	checkJSONError(t, h.watchRequest(ctx, "notes", noChain, ""), 403, ucan.InvalidClaim)
	checkJSONError(t, h.watchRequest(ctx, "store", auth, ""), 403, ucan.InvalidClaim)

	// A first put before watching: a fresh watch starts after it, ?after=0 replays it.
	first := h.put("0", "before")
	h.send([]*ucan.Token{first})

	wctx, cancel := context.WithCancel(ctx)
	resp := h.watchRequest(wctx, "notes", auth, "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("watch: %d %s", resp.StatusCode, readAll(t, resp))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var sent []cid.Cid
	for i := 1; i <= 4; i++ {
		inv := h.put(strconv.Itoa(i), "watched")
		h.send([]*ucan.Token{inv})
		sent = append(sent, inv.CID)
	}
	evs := readEvents(t, sc, 2)
	cancel()
	resp.Body.Close()
	for i, ev := range evs {
		if ev.event != "receipt" || !strings.Contains(ev.data, sent[i].String()) {
			t.Fatalf("event %d = %+v, want the receipt of %s", i, ev, sent[i])
		}
	}
	// Resume after the second event: the third and fourth come next.
	resp = h.watchRequest(ctx, "notes", auth, evs[1].id)
	sc = bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	rest := readEvents(t, sc, 2)
	resp.Body.Close()
	for i, ev := range rest {
		if !strings.Contains(ev.data, sent[i+2].String()) {
			t.Fatalf("resumed event %d = %+v, want the receipt of %s", i, ev, sent[i+2])
		}
		prev, _ := strconv.ParseUint(evs[1].id, 10, 64)
		if id, _ := strconv.ParseUint(ev.id, 10, 64); id <= prev {
			t.Fatalf("resumed event id %s not after %s", ev.id, evs[1].id)
		}
	}
	// ?after=0 replays from the start, the put made before watching first.
	req, _ := http.NewRequest("GET", h.http.URL+"/watch/"+h.space.DID()+"/notes?after=0", nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc = bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	all := readEvents(t, sc, 1)
	resp.Body.Close()
	if !strings.Contains(all[0].data, first.CID.String()) {
		t.Fatalf("replayed event %+v, want the receipt of %s", all[0], first.CID)
	}
}

func TestWatchEndsOnShutdown(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	auth := bearer(t, invoke(t, h.space, h.space.DID(), "/dag/get", `{}`))
	resp := h.watchRequest(context.Background(), "notes", auth, "")
	if resp.StatusCode != 200 {
		t.Fatalf("watch: %d %s", resp.StatusCode, readAll(t, resp))
	}
	done := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(resp.Body).ReadString(0)
		done <- err
	}()
	h.srv.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watch stream still open after Close")
	}
	resp.Body.Close()
}

// slowRunner delays every Run until release is closed.
type slowRunner struct {
	Runner
	started chan struct{}
	release chan struct{}
}

func (s *slowRunner) ExecWith(ctx context.Context, c *ops.Checked, msg cid.Cid, opts ...dag.OpOption) (ops.Outcome, error) {
	s.started <- struct{}{}
	<-s.release
	return s.Runner.ExecWith(ctx, c, msg, opts...)
}

func TestServeGracefulShutdown(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	h := newHarness(t, harnessOptions{runner: func(r Runner) Runner { return &slowRunner{r, started, release} }})
	addr, cancel, served := h.serve()
	url := "http://" + addr
	inv := h.put("slow", "x")
	type result struct {
		status int
		err    error
	}
	got := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", url+"/ucan", strings.NewReader(string(encode(t, []*ucan.Token{inv}))))
		req.Header.Set("Content-Type", message.ContentTypeCAR)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		resp.Body.Close()
		got <- result{status: resp.StatusCode}
	}()
	<-started
	cancel() // shutdown begins while the request is in flight
	time.Sleep(50 * time.Millisecond)
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("new connections are still accepted during shutdown")
	}
	close(release)
	r := <-got
	if r.err != nil || r.status != 200 {
		t.Fatalf("in-flight request: %d %v", r.status, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := h.engine.Entry(context.Background(), mustPath(t, h.space.DID(), "notes/slow")); err != nil {
		t.Fatalf("the in-flight put did not complete: %v", err)
	}
}

func TestMaxInFlight(t *testing.T) {
	started, release := make(chan struct{}, 2), make(chan struct{})
	h := newHarness(t, harnessOptions{inFlight: 1, runner: func(r Runner) Runner { return &slowRunner{r, started, release} }})
	first, second := h.put("1", "x"), h.put("2", "x")
	done := make(chan int, 1)
	go func() {
		resp := h.post(message.ContentTypeCAR, encode(t, []*ucan.Token{first}))
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-started
	// The second message waits for the first's slot; its client gives up. (The server
	// may still run it once the slot frees: it cannot tell the client left before reading
	// the body, and a retry would get the stored result.)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", h.http.URL+"/ucan", strings.NewReader(string(encode(t, []*ucan.Token{second}))))
	req.Header.Set("Content-Type", message.ContentTypeCAR)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("second message answered %d while the only slot was taken", resp.StatusCode)
	}
	select {
	case <-started:
		t.Fatal("the second message ran while the first held the only slot")
	default:
	}
	close(release)
	if code := <-done; code != 200 {
		t.Fatalf("first message: %d", code)
	}
}

// TestShutdownConnectionWithoutRequest: a connection that never sent a request (a load
// balancer's TCP check, a client's spare dial) does not hold up Serve's shutdown. Go's
// http.Server.Shutdown waits for such a connection until it is 5 seconds old, so with a
// ShutdownTimeout shorter than that Serve failed with "context deadline exceeded".
func TestShutdownConnectionWithoutRequest(t *testing.T) {
	h := newHarness(t, harnessOptions{shutdown: 3 * time.Second})
	addr, cancel, served := h.serve()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	time.Sleep(50 * time.Millisecond) // the server has accepted it
	start := time.Now()
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v after %s", err, time.Since(start).Round(time.Millisecond))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("shutting down took %s with a connection that sent no request", took.Round(time.Millisecond))
	}
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Errorf("the connection without a request is still open after shutdown (read %d bytes)", n)
	}
}
