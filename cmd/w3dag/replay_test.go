package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/archive/replay"
	"github.com/w3dag/w3dag/blob"
	blobfs "github.com/w3dag/w3dag/blob/fs"
	"github.com/w3dag/w3dag/internal/fixtures"
	"github.com/w3dag/w3dag/internal/race"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// liveService is a `w3dag serve` run in this process on a data folder of the test's.
type liveService struct {
	data, url, did string
	stop           func()
}

func startLive(t testing.TB, data string, args ...string) *liveService {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runServe(ctx, append([]string{"--data", data, "--listen", "127.0.0.1:0", "--log-level", "error"}, args...), pw, &stderr)
		pw.Close()
	}()
	l := &liveService{data: data}
	var once sync.Once
	l.stop = func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exit code %d: %s", code, stderr.String())
			}
		})
	}
	t.Cleanup(l.stop)
	sc := bufio.NewScanner(pr)
	for l.url == "" && sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "service DID "); ok {
			l.did = v
		}
		if v, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			l.url = v
		}
	}
	go io.Copy(io.Discard, pr)
	if l.url == "" {
		t.Fatalf("serve did not start: %s", stderr.String())
	}
	return l
}

// invoke seals a /dag/* invocation by signer on sub with args given as DAG-JSON.
func invoke(t testing.TB, signer did.Signer, sub, cmd, argsJSON string) *ucan.Token {
	t.Helper()
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagjson.Decode(nb, strings.NewReader(argsJSON)); err != nil {
		t.Fatal(err)
	}
	in := &ucan.Invocation{Issuer: signer.DID(), Subject: sub, Command: cmd, Args: nb.Build(), Nonce: ucan.NewNonce()}
	tok, err := in.Seal(signer, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// post sends invs in one agent message and returns the HTTP status.
func post(t testing.TB, url string, invs ...*ucan.Token) int {
	t.Helper()
	m := &message.Message{}
	for _, inv := range invs {
		m.Invocations = append(m.Invocations, inv.CID)
		m.Blocks = append(m.Blocks, message.Block{CID: inv.CID, Data: inv.Raw})
	}
	body, err := message.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url+"/ucan", message.ContentTypeCAR, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// replayWorkload drives a mixed workload of client invocations against url: puts of a
// schema-extension collection from two spaces, several messages at once (group commits
// of many operations), removes and puts again after a removal, unchanged and changed
// values, a value the schema refuses (a stored error receipt), the same message sent
// twice (repeated tasks), an invocation without authority beside a valid one (archived,
// refused) and alone (not archived), reads (get, select), store puts left pending (each
// schedules its expiry task, a self-issued invocation) and the removal of one. It
// returns how many invocations it sent.
func replayWorkload(t *testing.T, url string) int {
	t.Helper()
	spaces := []did.Signer{machinestest.Signer(t), machinestest.Signer(t)}
	mallory := machinestest.Signer(t)
	var mu sync.Mutex
	sent := 0
	send := func(invs ...*ucan.Token) {
		if code := post(t, url, invs...); code != http.StatusOK {
			t.Errorf("POST /ucan: %d", code)
		}
		mu.Lock()
		sent += len(invs)
		mu.Unlock()
	}
	note := func(sp did.Signer, key, title string) *ucan.Token {
		return invoke(t, sp, sp.DID(), "/dag/put", fmt.Sprintf(`{"path": "notes/%s", "value": {"title": %q}}`, key, title))
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range 10 {
				sp := spaces[(w+m)%2]
				var invs []*ucan.Token
				for k := range 1 + m%4 {
					invs = append(invs, note(sp, fmt.Sprintf("n%d-%d-%d", w, m, k), "first"))
				}
				send(invs...)
			}
		}()
	}
	wg.Wait()
	a, b := spaces[0], spaces[1]
	send(invoke(t, a, a.DID(), "/dag/remove", `{"path": "notes/n0-0-0"}`), invoke(t, b, b.DID(), "/dag/remove", `{"path": "notes/n1-0-0"}`))
	send(note(a, "n0-0-0", "again"))                                                        // a new state after a removal: origin links the tombstone
	send(note(a, "n0-2-0", "first"), note(b, "n1-0-1", "changed"))                          // unchanged value; changed value
	send(invoke(t, a, a.DID(), "/dag/put", `{"path": "notes/bad", "value": {"title": 5}}`)) // refused by the schema: stored error
	repeated := []*ucan.Token{note(a, "rep", "once"), invoke(t, a, a.DID(), "/dag/remove", `{"path": "notes/n2-1-0"}`)}
	send(repeated...)
	send(repeated...) // the same tasks again: answered from their results
	send(invoke(t, mallory, a.DID(), "/dag/put", `{"path": "notes/stolen", "value": {"title": "x"}}`), note(a, "beside", "x"))
	if code := post(t, url, invoke(t, mallory, a.DID(), "/dag/put", `{"path": "notes/stolen", "value": {"title": "y"}}`)); code != http.StatusOK {
		t.Errorf("refused message: %d", code)
	}
	send(invoke(t, a, a.DID(), "/dag/get", `{"path": "notes/n0-0-0"}`), invoke(t, b, b.DID(), "/dag/select", `{"path": "notes", "limit": 5}`))
	send(invoke(t, a, a.DID(), "/dag/remove", `{"path": "notes/missing"}`)) // NotFound
	// Stores whose bytes never come: pending, with an upload URL and an expiry task (a
	// self-issued invocation, archived in the put's transaction); one removed.
	var cars []string
	for i := range 3 {
		car := message.Sum(message.CodecCAR, []byte(fmt.Sprintf("never uploaded %d %s", i, a.DID()))).String()
		cars = append(cars, car)
		send(invoke(t, a, a.DID(), "/dag/put", fmt.Sprintf(`{"path": "store/%s", "value": {"link": {"/": %q}, "size": %d}}`, car, car, 100+i)))
	}
	send(invoke(t, a, a.DID(), "/dag/remove", fmt.Sprintf(`{"path": "store/%s"}`, cars[0])))
	// Bytes that are the CID's but not a CAR: the upload is refused and the entry ends
	// failed through the service's own /store/reject invocation (its reply archived).
	notCAR := []byte("these bytes are not a CAR " + a.DID())
	car := message.Sum(message.CodecCAR, notCAR).String()
	rcpt := sendOne(t, url, invoke(t, a, a.DID(), "/dag/put", fmt.Sprintf(`{"path": "store/%s", "value": {"link": {"/": %q}, "size": %d}}`, car, car, len(notCAR))))
	sent++
	upload(t, rcpt, notCAR, http.StatusBadRequest)
	return sent
}

// sendOne sends inv alone and returns its receipt from the reply.
func sendOne(t testing.TB, url string, inv *ucan.Token) *receipts.Receipt {
	t.Helper()
	m := &message.Message{Invocations: []cid.Cid{inv.CID}, Blocks: []message.Block{{CID: inv.CID, Data: inv.Raw}}}
	body, err := message.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url+"/ucan", message.ContentTypeCAR, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /ucan: %d %v", resp.StatusCode, err)
	}
	reply, err := message.Decode(data, message.ReplyLimits)
	if err != nil || len(reply.Receipts) != 1 {
		t.Fatalf("reply: %v", err)
	}
	_, r, err := receipts.Decode(reply.Index()[reply.Receipts[0].Receipt])
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// upload PUTs data to the upload URL of a pending store receipt and checks the status.
func upload(t testing.TB, r *receipts.Receipt, data []byte, status int) {
	t.Helper()
	if r.Out.Ok == nil {
		t.Fatalf("store put failed: %+v", r.Out.Err)
	}
	u, err := r.Out.Ok.LookupByString("url")
	if err != nil {
		t.Fatalf("no upload URL in %s", dagJSON(r.Out.Ok))
	}
	us, _ := u.AsString()
	req, err := http.NewRequest(http.MethodPut, us, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if h, err := r.Out.Ok.LookupByString("headers"); err == nil {
		it := h.MapIterator()
		for !it.Done() {
			k, v, _ := it.Next()
			ks, _ := k.AsString()
			vs, _ := v.AsString()
			req.Header.Set(ks, vs)
		}
	}
	req.ContentLength = int64(len(data))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("PUT %s: %d, want %d", us, resp.StatusCode, status)
	}
}

// flushArchive moves what a stopped service left in its outbox into segments, so that
// the archive is all in blob storage.
func flushArchive(t testing.TB, data string) {
	t.Helper()
	ctx := context.Background()
	blobs, err := blobfs.Open(filepath.Join(data, blobsDir), blobfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	kvs, err := openLive(ctx, data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer kvs.Close()
	a := archive.New(blobs, archive.Options{Outbox: kvs})
	defer a.Close()
	if _, err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Pending(ctx); err != nil || n != 0 {
		t.Fatalf("outbox still holds %d messages (%v)", n, err)
	}
}

// rebuildFolder makes a folder for a rebuilt store holding the original's key and
// upload-URL secret, as an operator would copy them.
func rebuildFolder(t testing.TB, live string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{serviceKeyFile, blobSecretFile} {
		b, err := os.ReadFile(filepath.Join(live, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestReplayVerify is the acceptance test of replay (issue 11): a service on pebble runs a
// mixed workload — the client one (replayWorkload: puts, removes, schema-extension
// entries, refusals, repeated tasks, pending stores and their expiries, a rejected upload)
// and what the service does on its own after uploads (uploadWorkload: deliveries, the task
// runner's claims and outcomes, piece computations, an aggregate's inclusion, an expiry);
// its archive alone is replayed into an empty pebble store (the default), an empty bolt
// store, and into PostgreSQL when W3DAG_TEST_POSTGRES is set, with every receipt the
// archived one, nothing unhandled, and every key of the rebuilt store — entry heads,
// receipts, usage records, metrics entries, task entries and indexes — equal to the live
// one's; verify says identical; then one archived message corrupted, verify names it and
// fails.
func TestReplayVerify(t *testing.T) {
	ctx := context.Background()
	schemaFile := filepath.Join(t.TempDir(), "notes.ipldsch")
	if err := os.WriteFile(schemaFile, []byte(notesExtension), 0o644); err != nil {
		t.Fatal(err)
	}
	live := t.TempDir()
	// --upload-piece on (its default only with 4 or more CPUs): the deliveries' compute
	// tasks carry the piece the upload computed, which the replay stages (TestReplayKilled
	// runs it off).
	l := startLive(t, live, append([]string{"--schema", schemaFile, "--upload-piece=true"}, replayConfig...)...)
	sent := replayWorkload(t, l.url)
	sent += uploadWorkload(t, l)
	l.stop()
	flushArchive(t, live)
	archiveDir := filepath.Join(live, blobsDir)
	common := append([]string{"--archive", archiveDir, "--public-url", l.url, "--schema", schemaFile}, replayConfig...)

	rebuilt := rebuildFolder(t, live)
	var stdout, stderr bytes.Buffer
	if code := runReplay(ctx, append([]string{"--data", rebuilt}, common...), &stdout, &stderr); code != 0 {
		t.Fatalf("replay: exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	t.Logf("%d invocations sent; %s", sent, strings.TrimSpace(stdout.String()))
	if !strings.Contains(stdout.String(), " 0 different") {
		t.Fatalf("replay output: %s", stdout.String())
	}
	compareStores(t, live, "", rebuilt, "")

	// Replaying again into the same folder changes nothing (the position says done).
	stdout.Reset()
	if code := runReplay(ctx, append([]string{"--data", rebuilt}, common...), &stdout, &stderr); code != 0 {
		t.Fatalf("second replay: exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	compareStores(t, live, "", rebuilt, "")
	if _, err := os.Stat(filepath.Join(rebuilt, pebbleDir)); err != nil {
		t.Fatalf("replay into a new folder: %v, want a pebble store (the default, as for serve)", err)
	}

	// The same archive into bolt, with the progress bar.
	boltRebuilt := rebuildFolder(t, live)
	stdout.Reset()
	stderr.Reset()
	if code := runReplay(ctx, append([]string{"--data", boltRebuilt, "--kv", "bolt", "--progress"}, common...), &stdout, &stderr); code != 0 {
		t.Fatalf("replay into bolt: exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	compareStores(t, live, "", boltRebuilt, "")
	if bar := stderr.String(); !strings.Contains(bar, "100%") || !strings.Contains(bar, " invocations") {
		t.Errorf("replay --progress: stderr %q, want a bar reaching 100%% of the invocations", bar)
	}
	stderr.Reset()

	replayIntoPostgres(ctx, t, live, common)

	// verify without --schema: the schema set the service archived at start is used.
	stdout.Reset()
	if code := runVerify(ctx, append([]string{"--against", live, "--archive", archiveDir, "--public-url", l.url}, replayConfig...), &stdout, &stderr); code != 0 || strings.TrimSpace(lastLine(stdout.String())) != "identical" {
		t.Fatalf("verify: exit %d: %s%s", code, stdout.String(), stderr.String())
	}

	// Corrupt one archived message: verify names it and fails.
	var seg string
	blobs, closeArchive, err := openArchive(ctx, archiveDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := blobs.List(ctx, archive.SegmentPrefix, func(info blob.Info) error { seg = info.Key; return blob.ErrStop }); err != nil || seg == "" {
		t.Fatalf("no segment: %v", err)
	}
	closeArchive()
	path := filepath.Join(archiveDir, filepath.FromSlash(seg))
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 0x01
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	code := runVerify(ctx, append([]string{"--against", live}, common...), &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "message bag") || !strings.Contains(stderr.String(), "does not match its CID") {
		t.Fatalf("verify of a corrupt archive: exit %d, stdout %q, stderr %q; want a failure naming the message", code, stdout.String(), stderr.String())
	}
	t.Logf("corrupt archive: %s", strings.TrimSpace(stderr.String()))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// compareStores fails the test at the first difference between two data folders' stores.
func compareStores(t *testing.T, want, wantKV, got, gotKV string) {
	t.Helper()
	if d := diffStores(t, want, wantKV, got, gotKV); d != nil {
		t.Fatalf("rebuilt store differs: %s", d)
	}
}

// diffStores returns the first difference between two data folders' stores, nil when
// they hold the same.
func diffStores(t *testing.T, want, wantKV, got, gotKV string) *replay.Diff {
	t.Helper()
	ctx := context.Background()
	w, err := openLive(ctx, want, wantKV)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	g, err := openLive(ctx, got, gotKV)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	d, err := replay.Compare(ctx, w, g)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestReplayKilled: a replay of the mixed workload (the client one three times, then the
// uploads with their deliveries, tasks, pieces and aggregate) stopped part way and run
// again ends with the same store as the live one: killed with SIGKILL at assorted
// points, and cut after each of its transactions in turn (its store refusing every
// commit after the n-th, for each n: every state a crash can leave it in). A task that
// closed with a transaction taking no sequence after its last write (an include whose
// final transition changed nothing) lost that transaction's result when resumed between
// the two; the SIGKILLs found it once in a while in CI, the cuts find it every run.
func TestReplayKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildW3dag(t)
	schemaFile := filepath.Join(t.TempDir(), "notes.ipldsch")
	if err := os.WriteFile(schemaFile, []byte(notesExtension), 0o644); err != nil {
		t.Fatal(err)
	}
	live := t.TempDir()
	// --upload-piece off (TestReplayVerify runs it on): the compute tasks read the CARs.
	l := startLive(t, live, append([]string{"--kv", "bolt", "--schema", schemaFile, "--upload-piece=false"}, replayConfig...)...)
	for range 3 {
		replayWorkload(t, l.url)
	}
	uploadWorkload(t, l)
	l.stop()
	flushArchive(t, live)
	common := append([]string{"--archive", filepath.Join(live, blobsDir), "--public-url", l.url, "--schema", schemaFile}, replayConfig...)

	t.Run("SIGKILL", func(t *testing.T) {
		// Each kill comes half as long after its start as a whole replay process takes
		// here, so that it lands inside the replay on a fast machine as on a loaded one
		// (fixed times of 20–150 ms mostly came after a 50 ms replay had ended).
		start := time.Now()
		if out, err := exec.Command(bin, append([]string{"replay", "--data", rebuildFolder(t, live)}, common...)...).CombinedOutput(); err != nil {
			t.Fatalf("replay: %v\n%s", err, out)
		}
		whole := time.Since(start)
		rebuilt := rebuildFolder(t, live)
		args := append([]string{"replay", "--data", rebuilt}, common...)
		killed := 0
		for range 3 {
			cmd := exec.Command(bin, args...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(whole / 2)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			if err := cmd.Wait(); err != nil {
				killed++
			}
		}
		cmd := exec.Command(bin, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("replay after SIGKILL: %v\n%s", err, out)
		} else {
			t.Logf("killed %d replays (a whole one takes %s); then %s", killed, whole.Round(time.Millisecond), strings.TrimSpace(string(out)))
		}
		compareStores(t, live, "", rebuilt, "")
	})

	t.Run("cut", func(t *testing.T) {
		// Into bolt, the quicker to rebuild: where a replay resumes comes from the store's
		// last sequence, whichever store it is. How many transactions a replay commits
		// depends on how its writes were batched: the cuts go on until one comes after
		// the last.
		ctx := context.Background()
		args := append([]string{"--kv", "bolt"}, common...)
		left := &atomic.Int64{}
		rebuiltHook = func(s kv.Store) kv.Store { return &cutStore{Store: s, left: left} }
		defer func() { rebuiltHook = nil }()
		stride := 1
		if race.Enabled {
			stride = replayCutStrideRace
		}
		var out, errOut bytes.Buffer
		cuts := 0
		for n := 1; ; n += stride {
			if n > replayCutMax {
				t.Fatalf("replays cut after up to %d transactions still did not end", replayCutMax)
			}
			dir := rebuildFolder(t, live)
			left.Store(int64(n))
			out.Reset()
			errOut.Reset()
			whole := runReplay(ctx, append([]string{"--data", dir}, args...), &out, &errOut) == 0
			if whole && left.Load() < 0 {
				t.Fatalf("a replay whose store refused its commit %d exited 0: %s%s", n+1, out.String(), errOut.String())
			}
			if !whole {
				left.Store(math.MaxInt64)
				out.Reset()
				if code := runReplay(ctx, append([]string{"--data", dir}, args...), &out, &errOut); code != 0 {
					t.Fatalf("replay resumed after a cut after %d transactions: exit %d: %s%s", n, code, out.String(), errOut.String())
				}
			}
			if d := diffStores(t, live, "", dir, ""); d != nil {
				t.Fatalf("replay cut after %d transactions and resumed: rebuilt store differs: %s\n%s", n, d, out.String())
			}
			os.RemoveAll(dir)
			if whole {
				t.Logf("%d replays cut after 1 to %d transactions, each resumed to the live store; %s", cuts, n-stride, strings.TrimSpace(out.String()))
				return
			}
			cuts++
		}
	})
}

// replayCutMax bounds the cuts of TestReplayKilled: a replay of its workload commits a
// few hundred transactions.
const replayCutMax = 5000

// replayCutStrideRace is how far apart TestReplayKilled's cuts are under the race
// detector, where each replay takes several times longer.
const replayCutStrideRace = 5

// cutStore is a rebuilt store that refuses every commit after the first left.
type cutStore struct {
	kv.Store
	left *atomic.Int64
}

func (c *cutStore) Update(ctx context.Context, fn func(kv.Tx) error) error {
	if c.left.Add(-1) < 0 {
		return errors.New("cut: no more commits")
	}
	return c.Store.Update(ctx, fn)
}

// replayConfig is the configuration of the services the replay tests run (and replay
// with): upload URLs that expire within the test, and kilobyte aggregate bounds, so that
// expiries, pieces and a ready aggregate happen in seconds. The TTL leaves the workload's
// uploads, made right after their puts, seconds of slack on a loaded machine (with 1 s, a
// slow moment between a put and its upload made the URL expire: 403, not the 400 or 200
// the workload checks); the expiries are waited for (waitGet), not timed.
var replayConfig = []string{"--upload-url-ttl", "5s", "--aggregate-min", "2032", "--aggregate-max", "4064"}

// uploadWorkload drives what the service does on its own after uploads, against l (run
// with replayConfig): a CAR uploaded to a pending store entry is delivered by the
// service's own /store/deliver invocation (done: usage, carwhere, the block index from the
// upload's scan, the piece and its compute task), a second space's put of the same CAR is
// done at once (the bytes are held by then, but were not at the first put), the task
// runner computes the pieces (its claims and outcomes archived as /task/claim and
// /task/finish invocations), an entry whose bytes never come expires through its
// /store/expire task, and the pieces of three more CARs fill an aggregate, whose include
// task moves its members to aggregated. It returns how many client invocations it sent.
func uploadWorkload(t *testing.T, l *liveService) int {
	t.Helper()
	car, err := os.ReadFile(filepath.Join(fixtures.Root(t), "docs", "examples", "hello.car"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := machinestest.Signer(t), machinestest.Signer(t)
	sent := 0
	link := message.Sum(message.CodecCAR, car).String()
	putCAR := func(sp did.Signer, link string, size int) *receipts.Receipt {
		sent++
		return sendOne(t, l.url, invoke(t, sp, sp.DID(), "/dag/put", fmt.Sprintf(`{"path": "store/%s", "value": {"link": {"/": %q}, "size": %d}}`, link, link, size)))
	}
	upload(t, putCAR(a, link, len(car)), car, http.StatusOK)
	if r := putCAR(b, link, len(car)); status(r) != "done" {
		t.Fatalf("the second space's put of a held CAR is %s, want done", status(r))
	}
	never := message.Sum(message.CodecCAR, []byte("never uploaded "+a.DID())).String()
	putCAR(a, never, 100)
	waitGet(t, l.url, a, l.did, "piece/"+link, "computed", "aggregated")
	var kib []string
	for range 3 {
		data := make([]byte, 1000) // a piece of 1 KiB
		fillCAR(t, data)
		c := carOf(data).String()
		upload(t, putCAR(b, c, len(data)), data, http.StatusOK)
		waitGet(t, l.url, a, l.did, "piece/"+c, "computed", "aggregated")
		kib = append(kib, c)
	}
	waitGet(t, l.url, a, l.did, "piece/"+kib[0], "aggregated")
	waitGet(t, l.url, a, a.DID(), "store/"+never, "expired")
	return sent
}

// waitGet waits until the entry path of sub (read by reader) has one of the statuses want.
func waitGet(t testing.TB, url string, reader did.Signer, sub, path string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	got := ""
	for time.Now().Before(deadline) {
		r := sendOne(t, url, invoke(t, reader, sub, "/dag/get", fmt.Sprintf(`{"path": %q}`, path)))
		got = "no entry"
		if r.Out.Ok != nil {
			// a get's out.ok is {path, head, value: the state}
			if v, err := r.Out.Ok.LookupByString("value"); err == nil {
				if st, err := v.LookupByString("status"); err == nil {
					got, _ = st.AsString()
				}
			}
		}
		if slices.Contains(want, got) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("/%s/%s is %q after 30s, want %q", sub, path, got, want)
}

// testPostgres is W3DAG_TEST_POSTGRES, read when the tests start: clearEnv, which tests
// call before they run serve, unsets every W3DAG_ variable.
var testPostgres = os.Getenv("W3DAG_TEST_POSTGRES")

// replayIntoPostgres, when W3DAG_TEST_POSTGRES is set, replays with args (the archive and
// the original's configuration) into a new PostgreSQL schema and checks that the rebuilt
// store equals the live one in live (stopped).
func replayIntoPostgres(ctx context.Context, t *testing.T, live string, args []string) {
	t.Helper()
	pg := testPostgres
	if pg == "" {
		return
	}
	pgSchema := fmt.Sprintf("replay_%d", time.Now().UnixNano())
	var stdout, stderr bytes.Buffer
	args = append([]string{"--data", rebuildFolder(t, live), "--kv", pg, "--postgres-schema", pgSchema}, args...)
	if code := runReplay(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("replay into PostgreSQL: exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	t.Logf("PostgreSQL: %s", strings.TrimSpace(stdout.String()))
	pgs, err := openKV(ctx, serveConfig{kv: "postgres", postgresURL: pg, pgSchema: pgSchema}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer pgs.Close()
	livekv, err := openLive(ctx, live, "")
	if err != nil {
		t.Fatal(err)
	}
	d, err := replay.Compare(ctx, livekv, pgs)
	livekv.Close()
	if err != nil || d != nil {
		t.Fatalf("PostgreSQL rebuild differs: %v %v", d, err)
	}
}

// TestReplayGC: with GOGC unset, a replay raises the GC percent (never below the default
// 100) and restores the one before; with GOGC set, it leaves it alone.
func TestReplayGC(t *testing.T) {
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	restore := replayGC()
	if p := debug.SetGCPercent(100); p <= 100 {
		t.Errorf("GC percent during a replay: %d, want more than 100 (the live heap here is far below replayHeapHeadroom)", p)
	}
	debug.SetGCPercent(77) // restore sets back the percent from before replayGC, whatever it is now
	restore()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GC percent after the replay: %d, want 100 (the one before)", p)
	}
	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	restore = replayGC()
	if p := debug.SetGCPercent(50); p != 50 {
		t.Errorf("GC percent with GOGC=50: %d, want 50", p)
	}
	restore()
}
