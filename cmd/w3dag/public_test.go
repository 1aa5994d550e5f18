package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runServeFlags runs `w3dag serve` in-process with args (and the W3DAG_* environment) on a
// free port and a fresh data folder, and returns its URL and service DID; it stops when the
// test ends.
func runServeFlags(t *testing.T, args ...string) (url, service string) {
	t.Helper()
	// The data folder is made (and its removal registered) before the cleanup that stops
	// the server, so it is removed after the server has stopped writing to it.
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runServe(ctx, append([]string{"--data", data, "--listen", "127.0.0.1:0", "--log-level", "error"}, args...), pw, &stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exit code %d: %s", code, stderr.String())
		}
	})
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
	return url, service
}

// storeSmallCAR creates a space in a fresh client config, stores a small CAR in it with
// `w3dag store` and returns the CAR's CID.
func storeSmallCAR(t *testing.T, url string) string {
	t.Helper()
	t.Setenv("W3DAG_CONFIG", t.TempDir())
	t.Setenv("W3DAG_URL", url)
	if _, stderr, code := cli(t, "space", "new"); code != 0 {
		t.Fatalf("space new: %d %s", code, stderr)
	}
	data := make([]byte, 1000)
	fillCAR(t, data)
	file := filepath.Join(t.TempDir(), "a.car")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var so, se bytes.Buffer
	if code := runStore(context.Background(), []string{file}, &so, &se); code != 0 {
		t.Fatalf("store: exit %d: %s", code, se.String())
	}
	link := carOf(data).String()
	if !strings.HasPrefix(so.String(), link+" done") {
		t.Fatalf("store printed %q, want %s done", so.String(), link)
	}
	return link
}

// TestPublicServiceReads reads the carwhere entry of a stored CAR from the service's
// subject with an agent that holds no delegation from the service: get, ls and watch work;
// the service's task collection, and writes, stay refused.
func TestPublicServiceReads(t *testing.T) {
	clearEnv(t)
	url, svc := runServeFlags(t)
	link := storeSmallCAR(t, url)
	// A fresh agent, with no space and no delegations at all.
	t.Setenv("W3DAG_CONFIG", t.TempDir())
	entry := "/" + svc + "/carwhere/" + link

	out, stderr, code := cli(t, "get", entry, "--json")
	if code != 0 || !strings.Contains(out, `"status":"located"`) || !strings.Contains(out, "carpark/"+link) {
		t.Fatalf("get %s: exit %d, %s %s", entry, code, out, stderr)
	}
	out, stderr, code = cli(t, "ls", "/"+svc+"/carwhere")
	if code != 0 || !strings.Contains(out, link) {
		t.Fatalf("ls carwhere: exit %d, %s %s", code, out, stderr)
	}
	out, stderr, code = cli(t, "get", "/"+svc+"/metrics/store/add-total", "--json")
	if code != 0 || !strings.Contains(out, `"status":"counter"`) {
		t.Fatalf("get service metrics: exit %d, %s %s", code, out, stderr)
	}
	out, stderr, code = cli(t, "watch", "/"+svc+"/carwhere", "--last-id", "0", "--count", "1", "--timeout", "20s", "--json")
	if code != 0 || !strings.Contains(out, link) {
		t.Fatalf("watch carwhere: exit %d, %s %s", code, out, stderr)
	}

	// task stays private: the service refuses the read with a UCAN error.
	if _, stderr, code := cli(t, "ls", "/"+svc+"/task"); code != 1 || !strings.Contains(stderr, "InvalidClaim") {
		t.Fatalf("ls task without a delegation: exit %d, %s; want InvalidClaim", code, stderr)
	}
	// A write needs a delegation from the service, which the client does not hold.
	if _, stderr, code := cli(t, "put", entry, `{"size": 1, "locations": []}`); code != 1 || !strings.Contains(stderr, "no delegation chain") {
		t.Fatalf("put to carwhere: exit %d, %s; want no delegation chain", code, stderr)
	}
}

// TestPublicServiceReadsOff runs serve with W3DAG_PUBLIC_SERVICE_READS=false, the twin of
// --public-service-reads: the same read is refused.
func TestPublicServiceReadsOff(t *testing.T) {
	clearEnv(t)
	t.Setenv("W3DAG_PUBLIC_SERVICE_READS", "false")
	url, svc := runServeFlags(t)
	link := storeSmallCAR(t, url)
	t.Setenv("W3DAG_CONFIG", t.TempDir())
	if _, stderr, code := cli(t, "get", "/"+svc+"/carwhere/"+link); code != 1 || !strings.Contains(stderr, "InvalidClaim") {
		t.Fatalf("get carwhere with public reads off: exit %d, %s; want InvalidClaim", code, stderr)
	}
	_, stderr, code := cli(t, "watch", "/"+svc+"/carwhere", "--count", "1", "--timeout", "20s")
	if code != 1 || !strings.Contains(stderr, "InvalidClaim") {
		t.Fatalf("watch carwhere with public reads off: exit %d, %s; want InvalidClaim", code, stderr)
	}
}
