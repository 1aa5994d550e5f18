package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/blob"
	blobfs "github.com/w3dag/w3dag/blob/fs"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/kvtest"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/kv/pebble"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
)

// TestEngineJobsPerMessage: as w3dag serve wires the archive (its outbox written through
// the engine), a request of one write invocation costs the engine two jobs, one the client
// waits for (the message written in the transaction that runs it) and one after the
// answer (the reply archived and indexed together); the old code took four (the message,
// the run, the reply, its index). Every message and index is there all the same. Reads
// and messages of several invocations are archived before they run, as before (their
// replies in one job too).
func TestEngineJobsPerMessage(t *testing.T) {
	ctx := context.Background()
	store := kvmem.New()
	var arch *archive.Archive
	h := newHarness(t, harnessOptions{kv: store, archive: engineArchive(t, store, &arch)})
	// post sends invs as one message and returns the engine jobs it took, with the
	// request and reply bytes.
	post := func(invs ...*ucan.Token) (uint64, []byte, []byte) {
		t.Helper()
		before := h.engine.Stats().Ops
		body := encode(t, invs)
		resp := h.post(message.ContentTypeCAR, body)
		reply := readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", resp.StatusCode, reply)
		}
		h.srv.Wait() // the reply's archiving
		return h.engine.Stats().Ops - before, body, reply
	}
	archived := func(what string, data []byte) cid.Cid {
		t.Helper()
		msg := message.CID(data)
		if got, err := arch.Get(ctx, msg); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s %s: archived %d bytes, %v; want its %d bytes", what, msg, len(got), err, len(data))
		}
		return msg
	}
	for i := range 5 {
		inv := h.put(fmt.Sprint("k", i), "t")
		jobs, body, reply := post(inv)
		if jobs != 2 {
			t.Errorf("put %d took %d engine jobs, want 2", i, jobs)
		}
		req, rep := archived("request", body), archived("reply", reply)
		if !kvtest.Has(t, store, archive.InvocationInKey(inv.CID, req)) || !kvtest.Has(t, store, archive.InvocationOutKey(inv.CID, rep)) {
			t.Errorf("put %d: the .in or .out index is missing", i)
		}
	}
	get := invoke(t, h.space, h.space.DID(), "/dag/get", `{"path": "notes/k0"}`)
	if jobs, body, reply := post(get); jobs != 2 {
		t.Errorf("a get took %d engine jobs, want 2 (its message, its reply)", jobs)
	} else {
		archived("get request", body)
		archived("get reply", reply)
	}
	if jobs, body, _ := post(h.put("m1", "t"), h.put("m2", "t")); jobs != 4 {
		t.Errorf("a message of two puts took %d engine jobs, want 4 (its message, two runs, its reply)", jobs)
	} else {
		archived("request of two", body)
	}
}

// stageFails is an archive whose staged writes fail (the outbox write in the engine's
// transaction), while Put works: the operation is taken out of its batch.
type stageFails struct{ Archive }

func (s stageFails) Stage(codec uint64, data []byte) (cid.Cid, func(kv.Tx) error, func(), bool) {
	msg, _, committed, ok := s.Archive.Stage(codec, data)
	return msg, func(kv.Tx) error { return errors.New("outbox unavailable") }, committed, ok
}

// TestStagedRunFails: when the transaction that was to write a single invocation's
// message with its run does not commit (here the write itself fails), the message is
// archived by Put before the failure is answered, and nothing ran; the same when the
// runner panics.
func TestStagedRunFails(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		runner func(Runner) Runner
		wrap   func(Archive) Archive
	}{
		{"write fails", nil, func(a Archive) Archive { return stageFails{a} }},
		{"panic", func(r Runner) Runner { return panicky{r} }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := kvmem.New()
			var arch *archive.Archive
			mk := engineArchive(t, store, &arch)
			h := newHarness(t, harnessOptions{kv: store, runner: tc.runner, archive: func(e *dag.Engine, b blob.Store) Archive {
				a := mk(e, b)
				if tc.wrap != nil {
					a = tc.wrap(a)
				}
				return a
			}})
			body := encode(t, []*ucan.Token{h.put("a", "x")})
			checkJSONError(t, h.post(message.ContentTypeCAR, body), http.StatusInternalServerError, NameInternal)
			if got, err := arch.Get(ctx, message.CID(body)); err != nil || !bytes.Equal(got, body) {
				t.Fatalf("message archived: %d bytes, %v", len(got), err)
			}
			if seq, err := h.engine.LastSeq(ctx); err != nil || seq != 0 {
				t.Fatalf("last seq = %d, %v; want nothing committed", seq, err)
			}
		})
	}
}

const crashChildEnv = "W3DAG_SERVER_CRASH_CHILD"

// crashAcks is how many acknowledged requests the crash test waits for before killing.
const crashAcks = 200

// TestCrashAckedMessagesArchived: a serve-like process (pebble with fsync, fs blobs, the
// outbox written through the engine, the mover running) answering concurrent
// single-invocation puts is killed; every request acknowledged before the kill has its
// message in the archive when the store is opened again.
func TestCrashAckedMessagesArchived(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashServeChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("kills a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashAckedMessagesArchived$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []cid.Cid
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < crashAcks {
		if c, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			msg, err := cid.Decode(c)
			if err != nil {
				t.Fatal(err)
			}
			acked = append(acked, msg)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(acked) < crashAcks {
		t.Fatalf("the child acknowledged %d requests before it ended, want %d", len(acked), crashAcks)
	}
	store, err := pebble.Open(filepath.Join(dir, "w3dag.pebble"), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	blobs, err := blobfs.Open(filepath.Join(dir, "blobs"), blobfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	arch := archive.New(blobs, archive.Options{Outbox: store})
	defer arch.Close()
	for _, msg := range acked {
		if ok, err := arch.Has(context.Background(), msg); !ok || err != nil {
			t.Fatalf("acknowledged request %s is not in the archive after the crash: %v", msg, err)
		}
	}
}

// crashServeChild serves single-invocation puts from 8 concurrent clients, printing the
// message CID of each acknowledged one, until it is killed.
func crashServeChild(t *testing.T, dir string) {
	store, err := pebble.Open(filepath.Join(dir, "w3dag.pebble"), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, arch, space := embeddedServer(t, store, dir)
	go arch.Run(context.Background())
	hs := httptest.NewServer(srv)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				inv := invoke(t, space, space.DID(), "/dag/put", fmt.Sprintf(`{"path": "notes/w%d-%d", "value": {"title": "t"}}`, w, i))
				body := encode(t, []*ucan.Token{inv})
				resp, err := hs.Client().Post(hs.URL+"/ucan", message.ContentTypeCAR, bytes.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				reply := readAll(t, resp)
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%d %s", resp.StatusCode, reply)
					return
				}
				mu.Lock()
				fmt.Printf("ack %s\n", message.CID(body))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
