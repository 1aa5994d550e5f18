package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveOnce runs `w3dag serve` on data with args until it prints its listen line, calls
// during with its standard output so far and the service URL, then stops it.
func serveOnce(t *testing.T, data string, args []string, during func(stdout, url string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runServe(ctx, append([]string{"--data", data, "--listen", "127.0.0.1:0", "--log-level", "error"}, args...), pw, &stderr)
		pw.Close()
	}()
	var stdout strings.Builder
	var url string
	sc := bufio.NewScanner(pr)
	for url == "" && sc.Scan() {
		stdout.WriteString(sc.Text() + "\n")
		if v, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			url = v
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" {
		cancel()
		<-done
		t.Fatalf("no listen line: %s", stderr.String())
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	if during != nil {
		during(stdout.String(), url)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exit code %d: %s", code, stderr.String())
	}
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	return err == nil
}

// TestServeKVChoice: a new data folder gets a pebble store; a folder holding a bolt file
// keeps bolt when --kv is not given; naming the other embedded backend than the one a
// folder holds is refused instead of starting an empty store.
func TestServeKVChoice(t *testing.T) {
	t.Run("new folder is pebble", func(t *testing.T) {
		data := t.TempDir()
		serveOnce(t, data, nil, nil)
		if !exists(t, filepath.Join(data, pebbleDir)) || exists(t, filepath.Join(data, boltFile)) {
			t.Fatalf("new data folder: want %s and no %s", pebbleDir, boltFile)
		}
		serveOnce(t, data, []string{"--kv", "pebble"}, nil)
	})
	t.Run("existing bolt stays bolt", func(t *testing.T) {
		data := t.TempDir()
		serveOnce(t, data, []string{"--kv", "bolt"}, nil)
		if !exists(t, filepath.Join(data, boltFile)) {
			t.Fatalf("--kv bolt made no %s", boltFile)
		}
		serveOnce(t, data, nil, nil)
		if exists(t, filepath.Join(data, pebbleDir)) {
			t.Fatalf("serve without --kv on a bolt folder made %s", pebbleDir)
		}
	})
	t.Run("other backend refused", func(t *testing.T) {
		bolt, pebble := t.TempDir(), t.TempDir()
		serveOnce(t, bolt, []string{"--kv", "bolt"}, nil)
		serveOnce(t, pebble, nil, nil)
		for _, tc := range []struct{ data, kv, mention string }{
			{bolt, "pebble", "holds a bolt file"},
			{pebble, "bolt", "holds a pebble store"},
		} {
			var stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			code := runServe(ctx, []string{"--data", tc.data, "--listen", "127.0.0.1:0", "--log-level", "error", "--kv", tc.kv}, io.Discard, &stderr)
			cancel()
			if code != 1 || !strings.Contains(stderr.String(), tc.mention) {
				t.Fatalf("--kv %s: code %d, stderr %q; want 1 mentioning %q", tc.kv, code, stderr.String(), tc.mention)
			}
		}
	})
}

func TestResolveKV(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		kv, pg         string
		kind, url, err string
	}{
		{"", "", "pebble", "", ""},
		{"bolt", "", "bolt", "", ""},
		{"postgres", "postgres://a/b", "postgres", "postgres://a/b", ""},
		{"postgres://h/db?sslmode=disable", "", "postgres", "postgres://h/db?sslmode=disable", ""},
		{"postgresql://h/db", "postgresql://h/db", "postgres", "postgresql://h/db", ""},
		{"postgres://h/one", "postgres://h/two", "", "", "give one"},
	} {
		kind, url, err := resolveKV(serveConfig{data: dir, kv: tc.kv, postgresURL: tc.pg})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("--kv %q --postgres-url %q: %v, want an error mentioning %q", tc.kv, tc.pg, err, tc.err)
			}
			continue
		}
		if err != nil || kind != tc.kind || url != tc.url {
			t.Errorf("--kv %q --postgres-url %q: %q %q %v, want %q %q", tc.kv, tc.pg, kind, url, err, tc.kind, tc.url)
		}
	}
}

// TestServePprof: --pprof serves the runtime's profiles on its own address; without it
// the service's address has none.
func TestServePprof(t *testing.T) {
	serveOnce(t, t.TempDir(), []string{"--pprof", "127.0.0.1:0"}, func(stdout, url string) {
		var addr string
		for _, line := range strings.Split(stdout, "\n") {
			if v, ok := strings.CutPrefix(line, "pprof on "); ok {
				addr = v
			}
		}
		if addr == "" {
			t.Fatalf("no pprof line in %q", stdout)
		}
		for _, path := range []string{"cmdline", "goroutine?debug=1"} {
			resp, err := http.Get(addr + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || len(body) == 0 {
				t.Fatalf("GET %s%s: %d %q", addr, path, resp.StatusCode, body)
			}
		}
		resp, err := http.Get(url + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the service's own address serves pprof")
		}
	})
	var stderr bytes.Buffer
	code := runServe(context.Background(), []string{"--data", t.TempDir(), "--listen", "127.0.0.1:0", "--log-level", "error", "--pprof", "not an address"}, io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "--pprof") {
		t.Fatalf("bad --pprof: code %d, %q", code, stderr.String())
	}
}
