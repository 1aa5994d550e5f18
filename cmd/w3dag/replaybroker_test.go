package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/archive/replay"
	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/ucan/did"
)

// frontBroker stands before a real `w3dag broker`: it refuses the first offer (400: the
// offer task fails for good and the aggregate stays ready), acknowledges the second and
// reports a failure for it itself, and hands every later offer to the real broker, which
// verifies it and reports a deal.
type frontBroker struct {
	srv    *httptest.Server
	mu     sync.Mutex
	offers int
	wg     sync.WaitGroup
}

// frontReason is the failure frontBroker reports for the second offer.
const frontReason = "no provider for this one"

func startFrontBroker(t *testing.T, real string) *frontBroker {
	t.Helper()
	f := &frontBroker{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.URL.Path != "/offers" {
			http.Error(w, "bad offer", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.offers++
		n := f.offers
		f.mu.Unlock()
		switch n {
		case 1:
			http.Error(w, "no room today", http.StatusBadRequest)
		case 2:
			var o aggregate.Offer
			if err := json.Unmarshal(body, &o); err != nil {
				t.Errorf("offer: %v", err)
				return
			}
			w.WriteHeader(http.StatusAccepted)
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				rep := fmt.Sprintf(`{"failure": {"reason": %q}}`, frontReason)
				for range 100 {
					resp, err := http.Post(o.ReportURL, "application/json", strings.NewReader(rep))
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							return
						}
					}
					time.Sleep(50 * time.Millisecond)
				}
				t.Errorf("the failure report for %s was not taken", o.Aggregate)
			}()
		default:
			resp, err := http.Post(real+"/offers", "application/json", bytes.NewReader(body))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			w.WriteHeader(resp.StatusCode)
			io.Copy(w, resp.Body)
		}
	}))
	t.Cleanup(func() {
		f.wg.Wait()
		f.srv.Close()
	})
	return f
}

func (f *frontBroker) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.offers
}

// freeAddr returns a local address nothing listens on, for a service that restarts on
// the same URL (its public URL is in upload URLs and offers).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serviceClient is a client signed with the service's own key (in data), which reads
// the service's collections the public ones do not include (its tasks).
func serviceClient(t *testing.T, data, url string) *client.Client {
	t.Helper()
	signer, err := did.ReadKeyFile(filepath.Join(data, serviceKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{URL: url, Signer: signer, ServiceDID: signer.DID()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// replayAndVerify stops nothing: the live service in live must be stopped. It flushes
// its outbox, replays its archive into an empty bolt store (and PostgreSQL when
// W3DAG_TEST_POSTGRES is set) with flags (the original's configuration), checks that
// every receipt is the archived one, nothing is left unhandled, and the stores are
// identical, and that verify says identical.
func replayAndVerify(t *testing.T, live, url string, flags ...string) {
	t.Helper()
	ctx := context.Background()
	flushArchive(t, live)
	archiveDir := filepath.Join(live, blobsDir)
	common := append([]string{"--archive", archiveDir, "--public-url", url}, flags...)
	rebuilt := rebuildFolder(t, live)
	var stdout, stderr bytes.Buffer
	if code := runReplay(ctx, append([]string{"--data", rebuilt}, common...), &stdout, &stderr); code != 0 {
		logPlan(t, archiveDir, live)
		t.Fatalf("replay: exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	t.Logf("%s", strings.TrimSpace(stdout.String()))
	if !strings.Contains(stdout.String(), " 0 different") {
		t.Fatalf("replay output: %s", stdout.String())
	}
	compareStores(t, live, "", rebuilt, "")
	replayIntoPostgres(ctx, t, live, common)
	stdout.Reset()
	if code := runVerify(ctx, append([]string{"--against", live}, common...), &stdout, &stderr); code != 0 || strings.TrimSpace(lastLine(stdout.String())) != "identical" {
		t.Fatalf("verify: exit %d: %s%s", code, stdout.String(), stderr.String())
	}
}

// TestReplayBroker: the Filecoin path of issue 8 through a real `w3dag broker`, replayed
// (issue 11). A service with kilobyte aggregate bounds and --broker stores CARs: the
// first aggregate's offer is refused (its offer task fails); the service restarts on the
// same URL and resumes the offer (/aggregate/resume), which the broker acknowledges and
// then fails with a report (/aggregate/report: failed, the requeue task puts the pieces
// back into a new aggregate); that one, and one of two more CARs, are verified by the
// real broker and dealt (deal report, dealt task). The archive replayed into an empty
// store reproduces every receipt, and verify says identical.
func TestReplayBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts serve twice and a broker")
	}
	clearEnv(t)
	front := startFrontBroker(t, startBroker(t))
	flags := []string{"--upload-url-ttl", "5s", "--aggregate-min", "2032", "--aggregate-max", "4064", "--broker", front.srv.URL}
	live, listen := t.TempDir(), freeAddr(t)
	url, svc, stop := serveData(t, live, listen, append([]string{"--kv", "bolt"}, flags...)...)
	c, space := agentClient(t, url, svc)
	_, links := storeCARs(t, c, svc, space, 1000, 1000)
	first := "/" + svc + "/aggregate/" + aggregate.Key(1)
	ready := waitEntry(t, c, first, aggregate.StatusReady)
	var offer cid.Cid
	for i := 0; !offer.Defined(); i++ {
		if i > 600 {
			t.Fatalf("the ready aggregate's head has no offer task in fx")
		}
		if h := ready.HeadReceipt; h != nil && len(h.Fx) == 1 {
			offer = h.Fx[0]
			break
		}
		time.Sleep(50 * time.Millisecond)
		ready = waitEntry(t, c, first, aggregate.StatusReady)
	}
	// The refusal fails the offer task for good; the aggregate stays ready.
	waitEntry(t, serviceClient(t, live, url), task.Path(svc, offer).String(), task.StatusFailed)
	stop()

	url2, _, stop := serveData(t, live, listen, append([]string{"--kv", "bolt"}, flags...)...)
	if url2 != url {
		t.Fatalf("restarted on %s, not %s", url2, url)
	}
	if r := waitEntry(t, c, first, aggregate.StatusFailed); r.Status() != aggregate.StatusFailed {
		t.Fatalf("first aggregate %s", r.Status())
	}
	_, more := storeCARs(t, c, svc, space, 1000, 1000)
	for _, l := range append(links, more...) {
		waitEntry(t, c, "/"+svc+"/piece/"+l.String(), piece.StatusDealt)
	}
	for k := uint64(2); k <= 3; k++ {
		waitEntry(t, c, "/"+svc+"/aggregate/"+aggregate.Key(k), aggregate.StatusDealProcessed)
	}
	if n := front.count(); n != 4 {
		t.Errorf("%d offers, want 4 (refused, failed, two dealt)", n)
	}
	stop()
	replayAndVerify(t, live, url, flags...)
}

// logPlan logs the steps of the replay of the archive in archiveDir (of the service in
// live) in order, with what the archive says of each, for a failing replay.
func logPlan(t *testing.T, archiveDir, live string) {
	t.Helper()
	blobs, closeA, err := openArchive(context.Background(), archiveDir)
	if err != nil {
		t.Fatal(err)
	}
	defer closeA()
	signer, err := did.ReadKeyFile(filepath.Join(live, serviceKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := replay.Load(context.Background(), blobs, signer.DID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range plan.Steps {
		args := ""
		if st.Inv.Invocation.Args != nil {
			if p, err := st.Inv.Invocation.Args.LookupByString("path"); err == nil {
				args, _ = p.AsString()
			}
		}
		t.Logf("%3d seq %3d ts %d change %v %s %s %s stamps %v", i, st.Seq, st.TS, st.Change, st.Inv.Invocation.Command, status(st.Archived), args, st.Stamps)
	}
}

// TestReplayBrokerManyPieces: an aggregate of more than aggregate.MovesPerTx pieces (tiny
// CARs of 127 bytes, a 128-byte piece each) is included and dealt in several transactions
// each (their piece receipts at the times of their own transactions, with client writes
// between), and the replay reproduces every receipt.
func TestReplayBrokerManyPieces(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 130 CARs through serve and a broker")
	}
	clearEnv(t)
	const pieces = aggregate.MovesPerTx + 2
	// The aggregate is ready with its last piece: its payload reaches the minimum.
	// The deal must be 32 MiB for its FRC-0058 index to have an entry for each piece
	// (piece.IndexEntries).
	flags := []string{"--aggregate-min", fmt.Sprint(pieces * 127), "--aggregate-max", fmt.Sprint(127 << 18), "--broker", startBroker(t)}
	live := t.TempDir()
	url, svc, stop := serveData(t, live, freeAddr(t), append([]string{"--kv", "bolt"}, flags...)...)
	c, space := agentClient(t, url, svc)
	links := make([]cid.Cid, pieces)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < pieces; i += 8 {
				links[i] = storeRandomCAR(t, c, space, 127)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Client writes while the include and dealt tasks run.
	other, _ := agentClient(t, url, svc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 40; i++ {
			if _, err := other.Put(context.Background(), fmt.Sprintf("/%s/store/%s", space, links[i%len(links)]), nil); err == nil {
				t.Errorf("a put without authority succeeded")
			}
		}
	}()
	for _, l := range links {
		waitEntry(t, c, "/"+svc+"/piece/"+l.String(), piece.StatusDealt)
	}
	<-done
	r := waitEntry(t, c, "/"+svc+"/aggregate/"+aggregate.Key(1), aggregate.StatusDealProcessed)
	ms, err := aggregate.Members(r.State())
	if err != nil || len(ms) != pieces {
		t.Fatalf("the aggregate has %d members (%v), want %d", len(ms), err, pieces)
	}
	// The members were moved to aggregated in two transactions: at two times (unless
	// both fell in one millisecond), which the replay reproduces.
	times := map[int64]int{}
	for _, l := range links {
		head := waitEntry(t, c, "/"+svc+"/piece/"+l.String(), piece.StatusDealt)
		chain, err := c.Chain(context.Background(), head.Head())
		if err != nil || len(chain) < 2 {
			t.Fatalf("chain of %s: %d receipts, %v", l, len(chain), err)
		}
		times[chain[1].TS]++ // the aggregated receipt
	}
	t.Logf("members moved to aggregated at (ms: how many) %v", times)
	stop()
	replayAndVerify(t, live, url, flags...)
}

// storeRandomCAR stores a random CAR of size bytes in space through c (put, then upload) and
// returns its CID.
func storeRandomCAR(t *testing.T, c *client.Client, space string, size int) cid.Cid {
	ctx := context.Background()
	data := make([]byte, size)
	fillCAR(t, data)
	link := carOf(data)
	value, err := storeValue(link, int64(len(data)))
	if err != nil {
		t.Error(err)
		return link
	}
	r, err := c.Put(ctx, "/"+space+"/store/"+link.String(), value)
	if err != nil {
		t.Error(err)
		return link
	}
	req, err := uploadRequest(r.State())
	if err == nil {
		err = putBytes(ctx, http.DefaultClient, req, bytes.NewReader(data))
	}
	if err != nil {
		t.Error(err)
	}
	return link
}
