package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/jackc/pgx/v5"

	"github.com/w3dag/w3dag/blob/s3"
	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/store"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// multiNodeLease is the --task-lease of the nodes in TestMultiNode: short, so the
// survivors take the killed node's tasks over within seconds, far less than
// task.DefaultLease (the test would time out waiting with the default).
const multiNodeLease = 2 * time.Second

// holdingBroker is a deal broker for TestMultiNode that holds the first offer it gets
// (the request stays open until the offering node dies or release is closed) and
// answers every later offer 202 at once, recording which node (by its report URL's
// host) made each.
type holdingBroker struct {
	mu      sync.Mutex
	offers  []aggregate.Offer
	held    chan aggregate.Offer // gets the first offer once, while it is held
	release chan struct{}
}

func (b *holdingBroker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var o aggregate.Offer
	if r.Method != http.MethodPost || r.URL.Path != "/offers" || json.NewDecoder(r.Body).Decode(&o) != nil {
		http.Error(w, "not an offer", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	b.offers = append(b.offers, o)
	first := len(b.offers) == 1
	b.mu.Unlock()
	if first {
		b.held <- o
		select {
		case <-r.Context().Done(): // the offering node died
		case <-b.release:
		}
		http.Error(w, "gone", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (b *holdingBroker) all() []aggregate.Offer {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]aggregate.Offer(nil), b.offers...)
}

// TestMultiNode runs three `w3dag serve` processes sharing one PostgreSQL schema (fresh
// for the run) and one S3 prefix (versitygw in CI), with one service key and broker
// secret. Clients put notes through all three while watchers on each follow the space.
// Store entries that are never uploaded get expiry tasks; two small CARs make pieces and
// a ready aggregate, whose offer task the broker holds: the node running it (the
// victim) is SIGKILLed mid-load, holding that task's lease. Then:
//   - the survivors take the task over once the lease ends (the aggregate is offered
//     again by a survivor and is deal_pending), every pending entry expires and every
//     piece is computed, within a bound far below task.DefaultLease;
//   - every receipt any node acknowledged is readable from both survivors;
//   - the survivors' watchers saw every acknowledged change and every expiry, whichever
//     node committed it;
//   - the victim rejoins on the same data folder and address, serves reads and writes,
//     its commits reach the survivors' watchers, and nothing done is done again (no
//     further offer, the heads of expired entries, pieces and the aggregate unchanged);
//   - a node with another service key is refused by the shared store (ErrWrongService).
//
// It needs W3DAG_TEST_POSTGRES and W3DAG_TEST_S3 (see .ci/run).
func TestMultiNode(t *testing.T) {
	pgURL, s3URL := os.Getenv("W3DAG_TEST_POSTGRES"), os.Getenv("W3DAG_TEST_S3")
	if pgURL == "" || s3URL == "" {
		t.Skip("W3DAG_TEST_POSTGRES and W3DAG_TEST_S3 are not both set; skipping the multi-node test")
	}
	if testing.Short() {
		t.Skip("builds and runs three w3dag binaries")
	}
	clearEnv(t)
	bin := buildW3dag(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// A fresh PostgreSQL schema and S3 prefix for this run.
	var rb [6]byte
	rand.Read(rb[:])
	run := "multinode_" + hex.EncodeToString(rb[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pgURL)
		if err != nil {
			t.Errorf("dropping schema %s: %v", run, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{run}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", run, err)
		}
	})
	su, err := url.Parse(s3URL)
	if err != nil {
		t.Fatalf("W3DAG_TEST_S3: %v", err)
	}
	su.Path = strings.TrimSuffix(su.Path, "/") + "/" + run
	s3Run := su.String()
	testBucket(t, s3Run)

	broker := &holdingBroker{held: make(chan aggregate.Offer, 1), release: make(chan struct{})}
	brokerSrv := httptest.NewServer(broker)
	t.Cleanup(brokerSrv.Close)
	t.Cleanup(func() { close(broker.release) }) // before brokerSrv.Close, which waits for it

	schemaFile := filepath.Join(t.TempDir(), "notes.ipldsch")
	if err := os.WriteFile(schemaFile, []byte(notesExtension), 0o644); err != nil {
		t.Fatal(err)
	}
	// One service key and broker secret, copied into each node's data folder.
	const nodes = 3
	datas := make([]string, nodes)
	for i := range datas {
		datas[i] = t.TempDir()
	}
	svcSigner, _, err := loadServiceKey(filepath.Join(datas[0], serviceKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loadSecret(filepath.Join(datas[0], brokerSecretFile)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{serviceKeyFile, brokerSecretFile} {
		b, err := os.ReadFile(filepath.Join(datas[0], f))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range datas[1:] {
			if err := os.WriteFile(filepath.Join(d, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	listens := make([]string, nodes)
	for i := range listens {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listens[i] = ln.Addr().String()
		ln.Close()
	}
	env := []string{"W3DAG_SCHEMA=" + schemaFile}
	nodeArgs := func(data, listen string) []string {
		return []string{"--data", data, "--listen", listen, "--log-level", "warn",
			"--kv", "postgres", "--postgres-url", pgURL, "--postgres-schema", run,
			"--blob", "s3", "--s3-url", s3Run,
			"--task-lease", multiNodeLease.String(), "--watch-poll", "100ms", "--upload-url-ttl", "3s",
			"--aggregate-min", "2032", "--aggregate-max", "4064", "--broker", brokerSrv.URL}
	}
	start := func(i int) *child { return startServeArgs(t, bin, env, nodeArgs(datas[i], listens[i])...) }
	ns := make([]*child, nodes)
	t.Cleanup(func() {
		if t.Failed() {
			for i, n := range ns {
				if n != nil {
					t.Logf("node %d stderr:\n%s", i, n.stderr)
				}
			}
		}
	})
	for i := range ns {
		ns[i] = start(i)
		if ns[i].did != svcSigner.DID() {
			t.Fatalf("node %d signs as %s, want %s", i, ns[i].did, svcSigner.DID())
		}
	}
	svc := svcSigner.DID()

	// A node with another key is refused by the shared store.
	t.Run("WrongService", func(t *testing.T) {
		cctx, ccancel := context.WithTimeout(ctx, time.Minute)
		defer ccancel()
		cmd := exec.CommandContext(cctx, bin, append([]string{"serve"}, nodeArgs(t.TempDir(), "127.0.0.1:0")...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err == nil || cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
			t.Fatalf("serve with another service key: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "belongs to another service") || !strings.Contains(string(out), svc) {
			t.Fatalf("serve with another service key says:\n%s\nwant it to name the store's service %s", out, svc)
		}
	})

	space, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	clientOf := func(u string, signer did.Signer) *client.Client {
		c, err := client.New(client.Options{URL: u, Signer: signer, ServiceDID: svc})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	spaceClients := make([]*client.Client, nodes)
	for i, n := range ns {
		spaceClients[i] = clientOf(n.url, space)
	}

	// Watchers on every node follow the space's notes and store entries from the start
	// of the log (one stream per collection, one seen set per node).
	type watcher struct {
		mu   sync.Mutex
		seen map[cid.Cid]bool
		err  error
	}
	watchers := make([]*watcher, nodes)
	wctxs := make([]context.CancelFunc, nodes)
	var watching sync.WaitGroup
	for i := range nodes {
		w := &watcher{seen: map[cid.Cid]bool{}}
		watchers[i] = w
		wctx, stop := context.WithCancel(ctx)
		wctxs[i] = stop
		defer stop()
		for _, coll := range []string{"notes", store.Name} {
			watching.Add(1)
			go func() {
				defer watching.Done()
				err := spaceClients[i].Watch(wctx, "/"+space.DID()+"/"+coll, "0", func(ev client.Event) error {
					w.mu.Lock()
					defer w.mu.Unlock()
					if ev.ReceiptCID.Defined() {
						w.seen[ev.ReceiptCID] = true
					}
					return nil
				})
				if wctx.Err() == nil {
					w.mu.Lock()
					w.err = fmt.Errorf("watch of %s on node %d ended: %v", coll, i, err)
					w.mu.Unlock()
				}
			}()
		}
	}

	// Load: three clients per node put notes, four to a message. A client of the victim
	// stops at its first failure once the victim is chosen; any other failure fails.
	type ack struct {
		node    int
		receipt cid.Cid
	}
	var mu sync.Mutex
	var acks []ack
	victim := -1 // set (under mu) just before the kill
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const perNode, perMessage = 3, 4
	for n := range nodes {
		for w := range perNode {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hc := &http.Client{Timeout: 20 * time.Second}
				fail := func(format string, args ...any) {
					mu.Lock()
					defer mu.Unlock()
					if n != victim {
						t.Errorf("node %d: "+format, append([]any{n}, args...)...)
					}
				}
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					invs := make([]*ucan.Token, 0, perMessage)
					for j := range perMessage {
						invs = append(invs, putNote(t, space, fmt.Sprintf("n%d-w%d-%d-%d", n, w, i, j)))
					}
					body := encodeMessage(t, invs)
					resp, err := hc.Post(ns[n].url+"/ucan", message.ContentTypeCAR, bytes.NewReader(body))
					if err != nil {
						fail("%v", err)
						return
					}
					reply, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK {
						fail("%d %v %s", resp.StatusCode, err, reply)
						return
					}
					m, err := message.Decode(reply, message.ReplyLimits)
					if err != nil {
						fail("reply: %v", err)
						return
					}
					mu.Lock()
					for _, r := range m.Receipts {
						acks = append(acks, ack{node: n, receipt: r.Receipt})
					}
					mu.Unlock()
				}
			}()
		}
	}
	waitAcks := func(n int) {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			have := len(acks)
			mu.Unlock()
			if have >= n {
				return
			}
		}
		t.Fatalf("fewer than %d receipts acknowledged within a minute", n)
	}
	waitAcks(300)

	// Work for the task runners: store entries that are never uploaded (each gets an
	// expiry task at --upload-url-ttl) and two CARs that are (piece tasks, then an
	// aggregate that is ready at once, then its offer task).
	const expiring = 6
	var pendings []string
	for i := range expiring {
		data := make([]byte, 1000+i)
		rand.Read(data)
		link := carOf(data)
		v, err := storeValue(link, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		p := "/" + space.DID() + "/store/" + link.String()
		r, err := spaceClients[i%nodes].Put(ctx, p, v)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status() != store.StatusPending {
			t.Fatalf("%s is %s, want pending", p, r.Status())
		}
		pendings = append(pendings, p)
	}
	var cars []cid.Cid
	for i := range 2 {
		data := make([]byte, 1000)
		fillCAR(t, data) // the service stores only well-formed CARs
		link := carOf(data)
		v, err := storeValue(link, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		c := spaceClients[i%nodes]
		p := "/" + space.DID() + "/store/" + link.String()
		r, err := c.Put(ctx, p, v)
		if err != nil {
			t.Fatal(err)
		}
		req, err := uploadRequest(r.State())
		if err != nil {
			t.Fatal(err)
		}
		if err := putBytes(ctx, http.DefaultClient, req, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if r, err = c.Put(ctx, p, v); err != nil || r.Status() != store.StatusDone {
			t.Fatalf("put %s after the upload: %v %v", p, r, err)
		}
		cars = append(cars, link)
	}

	// The node offering the aggregate is the victim: the broker holds its offer, so it
	// holds the offer task's lease.
	var offer aggregate.Offer
	select {
	case offer = <-broker.held:
	case <-time.After(time.Minute):
		t.Fatal("no aggregate offered within a minute of storing two CARs")
	}
	ru, err := url.Parse(offer.ReportURL)
	if err != nil {
		t.Fatalf("offer's report URL %q: %v", offer.ReportURL, err)
	}
	v := -1
	for i, l := range listens {
		if l == ru.Host {
			v = i
		}
	}
	if v < 0 {
		t.Fatalf("offer's report URL %s is none of the nodes' %v", offer.ReportURL, listens)
	}
	pidV := ns[v].cmd.Process.Pid
	svcClient := clientOf(ns[(v+1)%nodes].url, svcSigner)
	page, err := svcClient.Select(ctx, "/"+svc+"/"+task.Name, client.Query{Status: task.StatusRunning, Limit: client.MaxSelectLimit})
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, e := range page.Entries {
		if strings.Contains(ownerOf(e), fmt.Sprintf("/%d/", pidV)) {
			held = append(held, "/"+svc+"/"+task.Name+"/"+e.Key)
		}
	}
	if len(held) == 0 {
		t.Fatalf("node %d (pid %d) is offering %s but holds no running task", v, pidV, offer.Aggregate)
	}

	// SIGKILL the victim mid-load, holding the lease.
	mu.Lock()
	victim = v
	atKill := len(acks)
	mu.Unlock()
	if err := ns[v].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ns[v].cmd.Wait()
	killedAt := time.Now()
	wctxs[v]()
	t.Logf("node %d (pid %d) killed holding %d running tasks (offering aggregate %s), %d receipts acknowledged", v, pidV, len(held), offer.Aggregate, atKill)
	var survivors []int
	for i := range nodes {
		if i != v {
			survivors = append(survivors, i)
		}
	}
	waitAcks(atKill + 200) // the survivors carry on
	close(stop)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Its tasks are taken over: well within task.DefaultLease of the kill, every task it
	// held is done, the aggregate offered again (by a survivor) and deal_pending, every
	// pending entry expired and every piece computed.
	within := 45 * time.Second
	sc := spaceClients[survivors[0]]
	waitStatus := func(c *client.Client, p string, want ...string) *client.Receipt {
		t.Helper()
		var last string
		for deadline := killedAt.Add(within); ; time.Sleep(100 * time.Millisecond) {
			r, err := c.Get(ctx, p)
			if err == nil {
				last = r.Status()
				for _, w := range want {
					if last == w {
						return r
					}
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is %q (%v), not %v %s after node %d was killed (task lease %s)", p, last, err, want, within, v, multiNodeLease)
			}
		}
	}
	for _, p := range held {
		waitStatus(svcClient, p, dag.StatusDone)
	}
	heads := map[string]cid.Cid{}
	aggPath := "/" + svc + "/aggregate/" + aggregate.Key(1)
	heads[aggPath] = waitStatus(sc, aggPath, aggregate.StatusDealPending).Head()
	var expiries []cid.Cid
	for _, p := range pendings {
		r := waitStatus(sc, p, store.StatusExpired)
		heads[p] = r.Head()
		expiries = append(expiries, r.Head())
	}
	for _, c := range cars {
		p := "/" + svc + "/piece/" + c.String()
		heads[p] = waitStatus(sc, p, piece.StatusAggregated).Head()
	}
	t.Logf("tasks taken over %s after the kill", time.Since(killedAt).Round(time.Millisecond))
	offers := broker.all()
	if len(offers) != 2 || offers[1].Aggregate != offer.Aggregate || offers[1].ReportURL == offer.ReportURL {
		t.Fatalf("offers %+v, want %s offered by node %d, then once by a survivor", offers, offer.Aggregate, v)
	}

	// Every acknowledged receipt is readable from both survivors.
	for i, a := range acks {
		n := ns[survivors[i%2]]
		resp, err := http.Get(n.url + "/receipts/" + a.receipt.String() + "?chain=0")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("receipt %s acknowledged by node %d: %d from %s", a.receipt, a.node, resp.StatusCode, n.url)
		}
	}

	// The survivors' watchers saw every acknowledged change and every expiry, whoever
	// committed it.
	waitSeen := func(want []cid.Cid, what string) {
		t.Helper()
		for _, wi := range survivors {
			w := watchers[wi]
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				w.mu.Lock()
				var missing []cid.Cid
				for _, c := range want {
					if !w.seen[c] {
						missing = append(missing, c)
					}
				}
				werr := w.err
				w.mu.Unlock()
				if werr != nil {
					t.Fatal(werr)
				}
				if len(missing) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("watcher on node %d: %d of %d %s never seen (first %s)", wi, len(missing), len(want), what, missing[0])
				}
			}
		}
	}
	var acked []cid.Cid
	for _, a := range acks {
		acked = append(acked, a.receipt)
	}
	waitSeen(acked, "acknowledged changes")
	waitSeen(expiries, "expiries")
	t.Logf("%d receipts acknowledged (%d before the kill), all readable from the survivors and seen by their watchers", len(acks), atKill)

	// The victim rejoins on the same data folder and address.
	ns[v] = start(v)
	if ns[v].did != svc {
		t.Fatalf("rejoined node signs as %s, want %s", ns[v].did, svc)
	}
	cv := clientOf(ns[v].url, space)
	var rejoined []cid.Cid
	for i := range 10 {
		r, err := cv.Put(ctx, "/"+space.DID()+"/notes/rejoined-"+fmt.Sprint(i), noteValue("rejoined"))
		if err != nil {
			t.Fatalf("put through the rejoined node: %v", err)
		}
		rejoined = append(rejoined, r.CID)
	}
	for _, a := range acks[:min(len(acks), 50)] {
		if _, err := cv.Receipt(ctx, a.receipt); err != nil {
			t.Fatalf("receipt %s from the rejoined node: %v", a.receipt, err)
		}
	}
	waitSeen(rejoined, "commits of the rejoined node")
	// Nothing done is done again: after two leases (every runner has polled, the
	// rejoined one included), the heads are those from before the rejoin and there was
	// no further offer.
	time.Sleep(2 * multiNodeLease)
	for p, h := range heads {
		r, err := cv.Get(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Head().Equals(h) {
			t.Errorf("%s: head %s after the rejoin, was %s (work done twice)", p, r.Head(), h)
		}
	}
	if got := len(broker.all()); got != 2 {
		t.Errorf("%d offers after the rejoin, want still 2", got)
	}
	for _, stop := range wctxs {
		stop()
	}
	watching.Wait()
	for i, n := range ns {
		n.cmd.Process.Signal(syscall.SIGTERM)
		if err := n.cmd.Wait(); err != nil {
			t.Errorf("node %d did not exit cleanly on SIGTERM: %v", i, err)
		}
	}
}

// ownerOf is the owner of a running task entry of a select page ("" if it has none).
func ownerOf(e client.PageEntry) string {
	if e.State == nil {
		return ""
	}
	n, err := e.State.LookupByString("owner")
	if err != nil {
		return ""
	}
	s, _ := n.AsString()
	return s
}

// noteValue is a Note with the given title.
func noteValue(title string) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "title", qp.String(title))
	})
	return n
}

// testBucket creates the bucket of the S3 URL raw if it is missing, and deletes the
// objects under its prefix when the test ends.
func testBucket(t *testing.T, raw string) {
	t.Helper()
	opts, err := s3.ParseURL(raw)
	if err != nil {
		t.Fatalf("W3DAG_TEST_S3: %v", err)
	}
	region := opts.Region
	if region == "" {
		region = s3.DefaultRegion
	}
	c := awss3.New(awss3.Options{
		Region:       region,
		BaseEndpoint: aws.String(opts.Endpoint),
		UsePathStyle: opts.PathStyle,
		Credentials:  credentials.NewStaticCredentialsProvider(opts.AccessKey, opts.SecretKey, ""),
	})
	ctx := context.Background()
	if _, err := c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(opts.Bucket)}); err != nil {
		if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(opts.Bucket)}); err != nil {
			t.Fatalf("creating bucket %q: %v", opts.Bucket, err)
		}
	}
	t.Cleanup(func() {
		p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: aws.String(opts.Bucket), Prefix: aws.String(opts.Prefix)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Logf("listing %s for cleanup: %v", opts.Prefix, err)
				return
			}
			for _, obj := range page.Contents {
				c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(opts.Bucket), Key: obj.Key})
			}
		}
	})
}
