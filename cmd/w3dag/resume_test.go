package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/piece"
)

// serveData runs serve in-process on listen with the data folder data and args, and
// returns its URL, its DID and a function that stops it and waits until it has (also
// called when the test ends).
func serveData(t *testing.T, data, listen string, args ...string) (url, service string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runServe(ctx, append([]string{"--data", data, "--listen", listen, "--log-level", "error"}, args...), pw, &stderr)
		pw.Close()
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exit code %d: %s", code, stderr.String())
			}
		})
	}
	t.Cleanup(stop)
	sc := bufio.NewScanner(pr)
	for url == "" && sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "service DID "); ok {
			service = v
		}
		if v, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			url = v
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" || service == "" {
		t.Fatalf("no service DID or listen line: %s", stderr.String())
	}
	return url, service, stop
}

// TestServeResumesOffers: an aggregate made ready by serve without --broker is offered
// when serve restarts on the same data folder with --broker (ResumeOffers), dealt, and
// offered once in all: a third start offers nothing again.
func TestServeResumesOffers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts serve three times")
	}
	clearEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	data := t.TempDir()
	bounds := []string{"--aggregate-min", "2032", "--aggregate-max", "4064"}

	url, svc, stop := serveData(t, data, listen, bounds...)
	c, space := agentClient(t, url, svc)
	_, links := storeCARs(t, c, svc, space, 1000, 1000)
	key := "/" + svc + "/aggregate/" + aggregate.Key(1)
	for _, l := range links {
		waitEntry(t, c, "/"+svc+"/piece/"+l.String(), piece.StatusAggregated)
	}
	if r := waitEntry(t, c, key, aggregate.StatusReady); r.Status() != aggregate.StatusReady {
		t.Fatalf("aggregate is %s", r.Status())
	}
	stop()

	b := newFakeBroker(t, 0, 0)
	_, _, stop = serveData(t, data, listen, append(bounds, "--broker", b.srv.URL)...)
	waitEntry(t, c, key, aggregate.StatusDealProcessed)
	for _, l := range links {
		waitEntry(t, c, "/"+svc+"/piece/"+l.String(), piece.StatusDealt)
	}
	stop()

	_, _, stop = serveData(t, data, listen, append(bounds, "--broker", b.srv.URL)...)
	waitEntry(t, c, key, aggregate.StatusDealProcessed)
	stop()
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.posts != 1 || len(b.offers) != 1 || len(b.reports) != 1 || b.reports[0] != 200 {
		t.Fatalf("%d offer posts, %d taken, reports %v; want 1, 1, [200]", b.posts, len(b.offers), b.reports)
	}
}
