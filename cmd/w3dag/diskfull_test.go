package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/server"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

const (
	// maxSmallFS is the most free space TestServeDiskFull fills: a bigger file system
	// would take too long (and is not what W3DAG_TEST_SMALLFS is for).
	maxSmallFS = 512 << 20
	// diskFullFiller is what the test keeps on the file system while it fills, and frees
	// before it restarts the service: the space Pebble needs to open again (to flush its
	// write-ahead log, at most about a memtable, kv/pebble.DefaultMemTableSize).
	diskFullFiller = 40 << 20
	// diskFullErrorLines bounds the error-level lines of a service whose disk filled up: a
	// few components say so once (the store, the engine, the archive mover, the logs
	// exporter), not one line per refused request.
	diskFullErrorLines = 12
)

// diskFullCase is how w3dag serve on one kv backend behaves once its disk is full.
type diskFullCase struct {
	kv string
	// refusals are the error names a put may be refused with.
	refusals []string
	// failed: the store has failed (GET /healthz 503 StoreFailed, w3dag_kv_failed 1) and
	// the service cannot start again until space is freed.
	failed bool
}

// TestServeDiskFull runs w3dag serve (fs blobs) in a data folder on a small file system
// (W3DAG_TEST_SMALLFS; .ci/run mounts a tmpfs) and puts notes until the disk is full, on
// pebble (the default) and on bolt. Then requests get 503, reads still answer, the log says
// so a few times rather than once a request, and the service stops cleanly on SIGTERM. On
// pebble the store has failed: the refusals are StoreFailed, GET /healthz answers 503
// StoreFailed, w3dag_kv_failed is 1, and started again on the full disk the service says
// there is not enough free space and exits. On bolt a commit that does not fit fails alone
// and the service stays up. With space freed, the service starts again on the same folder,
// healthy, serves every receipt it acknowledged before the disk filled, and takes writes.
func TestServeDiskFull(t *testing.T) {
	root := os.Getenv("W3DAG_TEST_SMALLFS")
	if root == "" {
		t.Skip("W3DAG_TEST_SMALLFS is not set: no small file system to fill (.ci/run mounts a tmpfs)")
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(root, &fs); err != nil {
		t.Fatalf("W3DAG_TEST_SMALLFS: %v", err)
	}
	if free := fs.Bavail * uint64(fs.Bsize); free > maxSmallFS {
		t.Fatalf("W3DAG_TEST_SMALLFS=%s has %d MiB free; the test fills it: give it a file system of at most %d MiB", root, free>>20, maxSmallFS>>20)
	}
	bin := buildW3dag(t)
	schemaFile := filepath.Join(t.TempDir(), "notes.ipldsch")
	if err := os.WriteFile(schemaFile, []byte(notesExtension), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []diskFullCase{
		{kv: "pebble", refusals: []string{server.NameStoreFailed}, failed: true},
		{kv: "bolt", refusals: []string{server.NameArchive, server.NameUnavailable}},
	} {
		t.Run(tc.kv, func(t *testing.T) { testDiskFull(t, root, bin, schemaFile, tc) })
	}
}

func testDiskFull(t *testing.T, root, bin, schemaFile string, tc diskFullCase) {
	dir, err := os.MkdirTemp(root, "diskfull-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, diskFullFiller), 0o644); err != nil {
		t.Fatalf("W3DAG_TEST_SMALLFS has not %d MiB free: %v", diskFullFiller>>20, err)
	}
	data := filepath.Join(dir, "data")
	args := []string{"--data", data, "--kv", tc.kv, "--listen", "127.0.0.1:0", "--log-level", "info"}
	env := []string{"W3DAG_SCHEMA=" + schemaFile}
	first := startServeArgs(t, bin, env, args...)
	space, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}

	acks, refused := fillDisk(t, first, space, tc.refusals)
	if len(acks) == 0 {
		t.Fatal("no put was acknowledged before the disk filled")
	}
	t.Logf("%d puts acknowledged, then %s", len(acks), refused)
	if tc.failed {
		wantHealthz(t, first, http.StatusServiceUnavailable, server.NameStoreFailed)
		wantKVFailed(t, first, "1")
	} else {
		wantHealthz(t, first, http.StatusOK, "")
		wantKVFailed(t, first, "0")
	}
	wantReceipt(t, first, acks[0]) // reads go on

	first.cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(first, 30*time.Second); err != nil {
		t.Fatalf("w3dag serve on a full disk did not stop cleanly on SIGTERM: %v\n%s", err, first.stderr)
	}
	logs := first.stderr.String()
	if n := strings.Count(logs, `"level":"ERROR"`); n == 0 || n > diskFullErrorLines {
		t.Errorf("%d error-level lines after the disk filled, want 1 to %d:\n%s", n, diskFullErrorLines, logs)
	}
	if !strings.Contains(logs, "no space left on device") {
		t.Errorf("the log never says the disk is full:\n%s", logs)
	}

	if tc.failed {
		// Started again on the full disk, the service says so and exits (Pebble would
		// retry flushing its log for ever).
		if msg := serveFails(t, bin, env, args...); !strings.Contains(msg, "not enough free space") || !strings.Contains(msg, "free space there") {
			t.Errorf("w3dag serve on a full disk: %s, want it to say there is not enough free space", msg)
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	second := startServeArgs(t, bin, env, args...)
	wantHealthz(t, second, http.StatusOK, "")
	wantKVFailed(t, second, "0")
	for _, r := range acks {
		wantReceipt(t, second, r)
	}
	resp, err := http.Post(second.url+"/ucan", message.ContentTypeCAR, bytes.NewReader(encodeMessage(t, []*ucan.Token{putNote(t, space, "after-restart")})))
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
		t.Errorf("a put after the restart: %d %s", resp.StatusCode, body)
	}
	resp.Body.Close()
	second.cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(second, 30*time.Second); err != nil {
		t.Fatalf("w3dag serve did not stop cleanly on SIGTERM: %v", err)
	}
}

// fillDisk puts notes of 1 KiB titles into c from 8 clients, 25 a message, until the
// service answers 503 with one of the error names refusals, and returns the receipts it
// acknowledged and how the first refusal read. Any other failure fails the test.
func fillDisk(t *testing.T, c *child, space did.Signer, refusals []string) (acks []cid.Cid, refused string) {
	t.Helper()
	const clients, perMessage = 8, 25
	title := strings.Repeat("full disk ", 100)
	var mu sync.Mutex
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 30 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				invs := make([]*ucan.Token, perMessage)
				for j := range invs {
					invs[j] = putNoteTitled(t, space, fmt.Sprintf("w%d-%d-%d", w, i, j), title)
				}
				resp, err := hc.Post(c.url+"/ucan", message.ContentTypeCAR, bytes.NewReader(encodeMessage(t, invs)))
				if err != nil {
					t.Errorf("POST /ucan: %v", err)
					once.Do(func() { close(done) })
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					t.Errorf("reading the reply: %v", err)
				case resp.StatusCode == http.StatusOK:
					m, err := message.Decode(body, message.ReplyLimits)
					if err != nil {
						t.Errorf("reply: %v", err)
						break
					}
					mu.Lock()
					for _, r := range m.Receipts {
						acks = append(acks, r.Receipt)
					}
					mu.Unlock()
					continue
				case resp.StatusCode == http.StatusServiceUnavailable && slices.ContainsFunc(refusals, func(name string) bool { return bytes.Contains(body, []byte(`"`+name+`"`)) }):
					mu.Lock()
					if refused == "" {
						refused = string(body)
					}
					mu.Unlock()
				default:
					t.Errorf("POST /ucan while the disk filled: %d %s, want 200 or 503 %s", resp.StatusCode, body, strings.Join(refusals, " or "))
				}
				once.Do(func() { close(done) })
				return
			}
		}()
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		once.Do(func() { close(done) })
		t.Errorf("the disk did not fill in 2 minutes")
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return acks, refused
}

// wantHealthz checks GET /healthz's status and, when name is set, its error name.
func wantHealthz(t *testing.T, c *child, status int, name string) {
	t.Helper()
	resp, err := http.Get(c.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("GET /healthz: %d %s, want %d", resp.StatusCode, body, status)
	}
	if name == "" {
		return
	}
	var e struct {
		Error struct{ Name string } `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Name != name {
		t.Fatalf("GET /healthz: %s, want the error %s", body, name)
	}
}

// wantKVFailed checks w3dag_kv_failed on GET /metrics.
func wantKVFailed(t *testing.T, c *child, want string) {
	t.Helper()
	resp, err := http.Get(c.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if line := "\nw3dag_kv_failed " + want + "\n"; !bytes.Contains(body, []byte(line)) {
		t.Errorf("GET /metrics lacks %q", strings.TrimSpace(line))
	}
}

// serveFails runs `w3dag serve args…`, which must exit with an error within 30 seconds,
// and returns what it wrote to stderr.
func serveFails(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("w3dag serve did not exit in 30 s: %s", stderr.String())
	}
	if err == nil {
		t.Fatalf("w3dag serve exited 0, want an error: %s", stderr.String())
	}
	return stderr.String()
}

// waitExit waits up to d for c's process to exit and returns how it did.
func waitExit(c *child, d time.Duration) error {
	exited := make(chan error, 1)
	go func() { exited <- c.cmd.Wait() }()
	select {
	case err := <-exited:
		return err
	case <-time.After(d):
		c.cmd.Process.Kill()
		return fmt.Errorf("still running after %s", d)
	}
}
