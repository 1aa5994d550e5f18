package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/archive"
	blobfs "github.com/w3dag/w3dag/blob/fs"
	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/internal/fixtures"
	"github.com/w3dag/w3dag/machines/store"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

const notesExtension = `
type Space struct {
  notes {String:Note}
}

type Note struct {
  title String
}
`

// buildW3dag builds the w3dag binary into a temporary directory.
func buildW3dag(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "w3dag")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/w3dag")
	cmd.Dir = fixtures.Root(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// child is a running `w3dag serve`.
type child struct {
	cmd    *exec.Cmd
	url    string
	did    string
	stderr *lockedBuffer // what the process wrote to stderr
}

// lockedBuffer is a bytes.Buffer safe for a process writing and a test reading.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe starts `w3dag serve` on a free port and waits until it prints its URL.
func startServe(t *testing.T, bin, data, schemaFile string) *child {
	t.Helper()
	return startServeArgs(t, bin, []string{"W3DAG_SCHEMA=" + schemaFile}, "--data", data, "--listen", "127.0.0.1:0", "--log-level", "warn")
}

// startServeArgs starts `w3dag serve args…` with env added to the environment, waits
// until it prints its URL and kills it in t.Cleanup if it still runs.
func startServeArgs(t *testing.T, bin string, env []string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stderr: stderr}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(30 * time.Second)
	for c.url == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("w3dag serve exited before listening: %s", stderr.String())
			}
			if v, ok := strings.CutPrefix(line, "service DID "); ok {
				c.did = v
			}
			if v, ok := strings.CutPrefix(line, "listening on "); ok {
				c.url = v
			}
		case <-timeout:
			t.Fatalf("w3dag serve did not start: %s", stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return c
}

// acked is one receipt the service acknowledged, and the message its invocation came in.
type acked struct {
	msg     cid.Cid
	receipt cid.Cid
}

// TestServeCrash starts w3dag serve, puts notes over HTTP from several clients, kills the
// process with SIGKILL in the middle of it, restarts it on the same data folder and checks
// that every receipt it acknowledged is retrievable and every acknowledged request message
// is in the archive.
func TestServeCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the w3dag binary")
	}
	bin := buildW3dag(t)
	data := t.TempDir()
	schemaFile := filepath.Join(t.TempDir(), "notes.ipldsch")
	if err := os.WriteFile(schemaFile, []byte(notesExtension), 0o644); err != nil {
		t.Fatal(err)
	}
	first := startServe(t, bin, data, schemaFile)
	space, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var acks []acked
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients, perMessage = 8, 4
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var invs []*ucan.Token
				for j := range perMessage {
					invs = append(invs, putNote(t, space, fmt.Sprintf("w%d-%d-%d", w, i, j)))
				}
				body := encodeMessage(t, invs)
				resp, err := hc.Post(first.url+"/ucan", message.ContentTypeCAR, bytes.NewReader(body))
				if err != nil {
					return // the server was killed
				}
				reply, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					return
				}
				m, err := message.Decode(reply, message.ReplyLimits)
				if err != nil {
					t.Errorf("reply: %v", err)
					return
				}
				mu.Lock()
				for _, r := range m.Receipts {
					acks = append(acks, acked{msg: message.CID(body), receipt: r.Receipt})
				}
				mu.Unlock()
			}
		}()
	}
	// Let the load run, then kill the server mid-flight.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(acks)
		mu.Unlock()
		if n >= 400 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.cmd.Wait()
	close(stop)
	wg.Wait()
	if len(acks) == 0 {
		t.Fatal("no receipt was acknowledged before the kill")
	}

	second := startServe(t, bin, data, schemaFile)
	if second.did != first.did {
		t.Fatalf("service DID changed across restarts: %s → %s", first.did, second.did)
	}
	seenMsg := map[cid.Cid]bool{}
	for _, a := range acks {
		wantReceipt(t, second, a.receipt)
		seenMsg[a.msg] = true
	}
	second.cmd.Process.Signal(syscall.SIGTERM)
	if err := second.cmd.Wait(); err != nil {
		t.Fatalf("w3dag serve did not exit cleanly on SIGTERM: %v", err)
	}
	// Every acknowledged request message is archived (in blob storage, or in the outbox
	// on its way there).
	arch := archiveOf(t, data)
	for msg := range seenMsg {
		if _, err := arch.Get(context.Background(), msg); err != nil {
			t.Fatalf("request message %s of an acknowledged receipt: %v", msg, err)
		}
	}
	t.Logf("%d acknowledged receipts in %d messages survived SIGKILL", len(acks), len(seenMsg))
}

// wantReceipt checks that the service c serves receipt, signed by it.
func wantReceipt(t *testing.T, c *child, receipt cid.Cid) {
	t.Helper()
	resp, err := http.Get(c.url + "/receipts/" + receipt.String() + "?chain=0")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("acknowledged receipt %s: %d %s", receipt, resp.StatusCode, raw)
	}
	_, blocks, err := message.DecodeCAR(raw, 0)
	if err != nil || len(blocks) != 1 || !blocks[0].CID.Equals(receipt) {
		t.Fatalf("receipt %s: %v", receipt, err)
	}
	tok, err := ucan.Decode(blocks[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := receipts.Verify(tok, c.did); err != nil {
		t.Fatalf("receipt %s: %v", receipt, err)
	}
}

func putNote(t *testing.T, space did.Signer, key string) *ucan.Token {
	return putNoteTitled(t, space, key, key)
}

// putNoteTitled is a /dag/put of notes/<key> with title, self-issued by space.
func putNoteTitled(t *testing.T, space did.Signer, key, title string) *ucan.Token {
	nb := basicnode.Prototype.Any.NewBuilder()
	js := fmt.Sprintf(`{"path": "notes/%s", "value": {"title": %q}}`, key, title)
	if err := dagjson.Decode(nb, strings.NewReader(js)); err != nil {
		t.Error(err)
		return nil
	}
	in := &ucan.Invocation{Issuer: space.DID(), Subject: space.DID(), Command: "/dag/put", Args: nb.Build(), Nonce: ucan.NewNonce()}
	tok, err := in.Seal(space, ucan.SealOptions{})
	if err != nil {
		t.Error(err)
	}
	return tok
}

func encodeMessage(t *testing.T, invs []*ucan.Token) []byte {
	m := &message.Message{}
	for _, inv := range invs {
		m.Invocations = append(m.Invocations, inv.CID)
		m.Blocks = append(m.Blocks, message.Block{CID: inv.CID, Data: inv.Raw})
	}
	data, err := message.Encode(m)
	if err != nil {
		t.Error(err)
	}
	return data
}

// archiveOf opens the archive of a stopped server's data folder, outbox included.
func archiveOf(t *testing.T, data string) *archive.Archive {
	t.Helper()
	blobs, err := blobfs.Open(filepath.Join(data, blobsDir), blobfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	kind, _, err := resolveKV(serveConfig{data: data})
	if err != nil {
		t.Fatal(err)
	}
	kvs, err := openKV(context.Background(), serveConfig{data: data, kv: kind}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kvs.Close() })
	a := archive.New(blobs, archive.Options{Outbox: kvs})
	t.Cleanup(func() { a.Close() })
	return a
}

func TestServiceKeyReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), serviceKeyFile)
	a, created, err := loadServiceKey(path)
	if err != nil || !created {
		t.Fatalf("first load: created %v, %v", created, err)
	}
	b, created, err := loadServiceKey(path)
	if err != nil || created {
		t.Fatalf("second load: created %v, %v", created, err)
	}
	if a.DID() != b.DID() {
		t.Fatalf("key changed: %s → %s", a.DID(), b.DID())
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", info.Mode().Perm())
	}
	s1, err := loadSecret(filepath.Join(filepath.Dir(path), blobSecretFile))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := loadSecret(filepath.Join(filepath.Dir(path), blobSecretFile))
	if err != nil || !bytes.Equal(s1, s2) || len(s1) != blobSecretSize {
		t.Fatalf("secret not reused: %x %x %v", s1, s2, err)
	}
}

func TestServeConfigErrors(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		code    int
		mention string
	}{
		{"unknown kv", []string{"--kv", "etcd"}, nil, 1, `--kv "etcd"`},
		{"unknown kv from env", nil, map[string]string{"W3DAG_KV": "etcd"}, 1, `--kv "etcd"`},
		{"postgres without url", []string{"--kv", "postgres"}, nil, 1, "--postgres-url"},
		{"unknown blob", []string{"--blob", "tape"}, nil, 1, `--blob "tape"`},
		{"s3 without url", []string{"--blob", "s3"}, nil, 1, "--s3-url"},
		{"bad log level", []string{"--log-level", "loud"}, nil, 2, "--log-level"},
		{"bad schema", []string{"--schema", "/nonexistent/x.ipldsch"}, nil, 1, "schema"},
		{"stray argument", []string{"now"}, nil, 2, "unexpected"},
		{"bad listen", []string{"--listen", "not an address"}, nil, 1, "listening"},
		{"zero max blob size", []string{"--max-blob-size", "0"}, nil, 2, "--max-blob-size"},
		{"max blob size above what PUT /blob accepts", []string{"--max-blob-size", "4294967297"}, nil, 2, "--max-blob-size"},
		{"negative upload URL TTL", []string{"--upload-url-ttl", "-1s"}, nil, 2, "--upload-url-ttl"},
		{"zero claim TTL from env", nil, map[string]string{"W3DAG_CLAIM_TTL": "0s"}, 2, "--claim-ttl"},
		{"aggregate min over max", []string{"--aggregate-min", "8KiB", "--aggregate-max", "4KiB"}, nil, 2, "--aggregate-min"},
		{"aggregate min 0", []string{"--aggregate-min", "0"}, nil, 2, "--aggregate-min"},
		{"aggregate max over the largest deal from env", nil, map[string]string{"W3DAG_AGGREGATE_MAX": "1TiB"}, 2, "largest deal"},
		{"aggregate min past the index", []string{"--aggregate-min", "4064", "--aggregate-max", "4064"}, nil, 2, "index"},
		{"aggregate max not a size", []string{"--aggregate-max", "lots"}, nil, 2, "aggregate-max"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append([]string{"--data", t.TempDir(), "--listen", "127.0.0.1:0", "--log-level", "error"}, tc.args...)
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			code := runServe(ctx, args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.mention) {
				t.Fatalf("code %d, stderr %q; want %d mentioning %q", code, stderr.String(), tc.code, tc.mention)
			}
		})
	}
}

func TestServeInProcess(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	pr, pw := io.Pipe()
	go func() {
		done <- runServe(ctx, []string{"--data", data, "--listen", "127.0.0.1:0", "--log-level", "error"}, pw, &stderr)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var url string
	for sc.Scan() {
		stdout.WriteString(sc.Text() + "\n")
		if v, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			url = v
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" {
		t.Fatalf("no listen line: %s %s", stdout.String(), stderr.String())
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(stdout.String(), "service DID did:key:") {
		t.Fatalf("healthz %d %s; stdout %s", resp.StatusCode, body, stdout.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr.String())
	}
	for _, f := range []string{serviceKeyFile, blobSecretFile, pebbleDir, blobsDir} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Errorf("data folder lacks %s: %v", f, err)
		}
	}
}

// TestServeStoreLimits runs serve with --max-blob-size and --upload-url-ttl and checks
// that the store machine applies them: a CAR one byte over the limit gets TooLarge, one at
// the limit gets an upload URL expiring after the configured TTL.
func TestServeStoreLimits(t *testing.T) {
	ctx := context.Background()
	url, service := runServeFlags(t, "--max-blob-size", "1000", "--upload-url-ttl", "90s", "--claim-ttl", "5m",
		"--aggregate-min", "2KiB", "--aggregate-max", "4KiB")
	c, space := agentClient(t, url, service)
	put := func(size int) (*client.Receipt, error) {
		data := make([]byte, size)
		link := carOf(data)
		value, err := storeValue(link, int64(size))
		if err != nil {
			t.Fatal(err)
		}
		return c.Put(ctx, "/"+space+"/store/"+link.String(), value)
	}
	var rerr *client.ReceiptError
	if _, err := put(1001); !errors.As(err, &rerr) || rerr.Name != store.NameTooLarge {
		t.Fatalf("put of 1001 bytes with --max-blob-size 1000: %v, want TooLarge", err)
	}
	before := time.Now()
	r, err := put(1000)
	if err != nil {
		t.Fatalf("put of 1000 bytes: %v", err)
	}
	req, err := uploadRequest(r.State())
	if err != nil {
		t.Fatal(err)
	}
	if ttl := req.Expires.Sub(before); ttl < 85*time.Second || ttl > 95*time.Second {
		t.Fatalf("upload URL valid for %s, want about 90s (--upload-url-ttl)", ttl)
	}
}
