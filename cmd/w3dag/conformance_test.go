package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/w3dag/w3dag/conformance"
	"github.com/w3dag/w3dag/internal/fixtures"
	"github.com/w3dag/w3dag/machines/aggregate"
)

// pinsSchema is the example extension the README tour and the conformance run use.
func pinsSchema(t testing.TB) string {
	return filepath.Join(fixtures.Root(t), "docs", "examples", "pins.ipldsch")
}

// startServer runs the service in-process (the serve composition root) on a free port with
// a temporary data folder and returns its URL; it stops when the test ends.
func startServer(t *testing.T) string {
	t.Helper()
	url, _ := startServerAt(t, t.TempDir(), "127.0.0.1:0")
	return url
}

// startServerAt runs the service on listen with data folder data (and the schema
// extension files schemas besides pins), returning its URL and a function that stops it
// and waits until it has (also called when the test ends).
func startServerAt(t testing.TB, data, listen string, schemas ...string) (string, func()) {
	t.Helper()
	return startServerWith(t, data, listen, nil, schemas...)
}

// startServerWith is startServerAt with tune, when not nil, changing the configuration.
func startServerWith(t testing.TB, data, listen string, tune func(*serveConfig), schemas ...string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	cfg := serveConfig{
		data:     data,
		listen:   listen,
		kv:       "bolt",
		blob:     "fs",
		schemas:  append(schemaFiles{pinsSchema(t)}, schemas...),
		shutdown: 5 * time.Second,
		// As the flags' defaults.
		publicReads: true,
		aggMin:      aggregate.DefaultMin,
		aggMax:      aggregate.DefaultMax,
	}
	if tune != nil {
		tune(&cfg)
	}
	log, err := newLogger(io.Discard, "error", "text")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, pw, log)
		pw.Close()
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
			// The CLI commands these tests run in-process share http.DefaultTransport, whose
			// pool may still hold a connection to this server (a separate w3dag process
			// would not): without this, the next request to the stopped server can reuse
			// it and fail with EOF instead of "connection refused".
			http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		})
	}
	t.Cleanup(stop)
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				urls <- u
			}
		}
		close(urls)
	}()
	select {
	case u, ok := <-urls:
		if !ok {
			t.Fatalf("serve stopped before listening: %v", <-done)
		}
		return u, stop
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start listening within 30s")
	}
	return "", stop
}

// TestConformance runs the black-box suite against the service composed by `w3dag serve`,
// on the upload collection (its Go machine) and on the schema-only pins collection (the
// generic record machine).
func TestConformance(t *testing.T) {
	url := startServer(t)
	for _, coll := range []string{"upload", "pins"} {
		t.Run(coll, func(t *testing.T) {
			conformance.Run(t, conformance.Target{URL: url, Collection: coll})
		})
	}
}
