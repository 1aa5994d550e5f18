package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/piece"
	commp "github.com/w3dag/w3dag/piece"
	"github.com/w3dag/w3dag/server"
)

// fakeBroker is a deal broker for tests (docs/broker.md): it answers the first failFirst
// offers 500, then takes them (202) and, in the background, downloads every piece from
// its url (whole and a range), checks its size, md5 and commP and the aggregate piece
// CID, and posts a deal report — or, for the first failOffers offers taken, a failure.
type fakeBroker struct {
	t          *testing.T
	srv        *httptest.Server
	mu         sync.Mutex
	failFirst  int
	failOffers int
	posts      int
	offers     []aggregate.Offer
	reports    []int // status of each report POST
	wg         sync.WaitGroup
	// gate, if not nil, holds failure reports until it is closed.
	gate chan struct{}
}

func newFakeBroker(t *testing.T, failFirst, failOffers int) *fakeBroker {
	b := &fakeBroker{t: t, failFirst: failFirst, failOffers: failOffers}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(func() { b.wg.Wait(); b.srv.Close() })
	return b
}

func (b *fakeBroker) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/offers" || r.Header.Get("Content-Type") != "application/json" {
		b.t.Errorf("broker: %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		http.Error(w, "not an offer", http.StatusBadRequest)
		return
	}
	var o aggregate.Offer
	if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
		b.t.Errorf("broker: offer: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.posts++
	if b.posts <= b.failFirst {
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	for _, have := range b.offers {
		if have.Aggregate == o.Aggregate {
			w.WriteHeader(http.StatusOK) // already have it
			return
		}
	}
	b.offers = append(b.offers, o)
	fail := len(b.offers) <= b.failOffers
	w.WriteHeader(http.StatusAccepted)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.verifyAndReport(o, fail)
	}()
}

// verifyAndReport checks the offer against the pieces' bytes and reports.
func (b *fakeBroker) verifyAndReport(o aggregate.Offer, fail bool) {
	var pieces []commp.Piece
	for _, p := range o.Pieces {
		resp, err := http.Get(p.URL)
		if err != nil {
			b.t.Errorf("broker: %v", err)
			return
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sum := md5.Sum(data)
		if resp.StatusCode != http.StatusOK || uint64(len(data)) != p.Size || hex.EncodeToString(sum[:]) != p.MD5 {
			b.t.Errorf("broker: %s: %s, %d bytes (md5 %x), offer says %d bytes md5 %s", p.URL, resp.Status, len(data), sum, p.Size, p.MD5)
			return
		}
		got, err := commp.Compute(bytes.NewReader(data))
		if err != nil || got.CID().String() != p.Piece {
			b.t.Errorf("broker: %s has commP %s (%v), offer says %s", p.URL, got.CID(), err, p.Piece)
			return
		}
		if carOf(data).String() != p.Content {
			b.t.Errorf("broker: %s is CAR %s, offer says %s", p.URL, carOf(data), p.Content)
		}
		pieces = append(pieces, got)
	}
	agg, err := commp.NewAggregate(o.DealSize, pieces)
	if err != nil || agg.Piece().CID().String() != o.Aggregate {
		b.t.Errorf("broker: aggregate of the pieces %v (%v), offer says %s", agg, err, o.Aggregate)
		return
	}
	if fail && b.gate != nil {
		<-b.gate
	}
	body := fmt.Sprintf(`{"deal": {"provider": "f01234", "dealId": %d, "expires": 1767225600}}`, len(o.Pieces))
	if fail {
		body = `{"failure": {"reason": "piece x: downloaded bytes have commP y"}}`
	}
	resp, err := http.Post(o.ReportURL, "application/json", strings.NewReader(body))
	if err != nil {
		b.t.Errorf("broker: report: %v", err)
		return
	}
	resp.Body.Close()
	b.mu.Lock()
	b.reports = append(b.reports, resp.StatusCode)
	b.mu.Unlock()
}

func (b *fakeBroker) taken() []aggregate.Offer {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]aggregate.Offer(nil), b.offers...)
}

// brokerService runs serve with kilobyte bounds (two 1000-byte CARs make an aggregate),
// the broker b and a broker secret file of its own; it returns the service URL, its DID,
// a client and the secret.
func brokerService(t *testing.T, b *fakeBroker) (string, string, *client.Client, string, []byte) {
	t.Helper()
	clearEnv(t)
	secret := bytes.Repeat([]byte{9}, 32)
	file := filepath.Join(t.TempDir(), "broker.secret")
	if err := os.WriteFile(file, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url, svc := runServeFlags(t, "--aggregate-min", "2032", "--aggregate-max", "4064", "--broker", b.srv.URL, "--broker-secret-file", file)
	c, space := agentClient(t, url, svc)
	return url, svc, c, space, secret
}

// storeCARs stores random CARs of the sizes given one after the other (each computed
// before the next, so the order is known) and returns their bytes and CIDs.
func storeCARs(t *testing.T, c *client.Client, svc, space string, sizes ...int) ([][]byte, []cid.Cid) {
	t.Helper()
	ctx := context.Background()
	var datas [][]byte
	var links []cid.Cid
	for _, size := range sizes {
		data := make([]byte, size)
		fillCAR(t, data)
		link := carOf(data)
		value, err := storeValue(link, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Put(ctx, "/"+space+"/store/"+link.String(), value)
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
		waitEntry(t, c, "/"+svc+"/piece/"+link.String(), piece.StatusComputed, piece.StatusAggregated, piece.StatusDealt)
		datas, links = append(datas, data), append(links, link)
	}
	return datas, links
}

// waitEntry polls the entry at p (a public service collection) until its status is one
// of want, and returns its receipt.
func waitEntry(t *testing.T, c *client.Client, p string, want ...string) *client.Receipt {
	t.Helper()
	var last string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		r, err := c.Get(context.Background(), p)
		if err == nil {
			last = r.Status()
			for _, w := range want {
				if last == w {
					return r
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %q (%v), not %v after a minute", p, last, err, want)
		}
	}
}

func linkAt(t *testing.T, r *client.Receipt, field string) cid.Cid {
	t.Helper()
	n, err := r.State().LookupByString(field)
	if err != nil {
		t.Fatalf("no %s: %v", field, err)
	}
	l, err := n.AsLink()
	if err != nil {
		t.Fatal(err)
	}
	c, err := cid.Parse(l.String())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestServeBrokerDeal: the ready aggregate is offered to the broker, which downloads its
// pieces from GET /piece, verifies them and reports a deal: the aggregate is
// deal_processed and both pieces dealt. Then the report endpoint's refusals, and GET
// /piece's range and 404.
func TestServeBrokerDeal(t *testing.T) {
	b := newFakeBroker(t, 0, 0)
	url, svc, c, space, secret := brokerService(t, b)
	datas, links := storeCARs(t, c, svc, space, 1000, 1000)
	ag := waitEntry(t, c, "/"+svc+"/aggregate/"+aggregate.Key(1), aggregate.StatusDealProcessed)
	ac := linkAt(t, ag, "aggregate")
	for _, l := range links {
		r := waitEntry(t, c, "/"+svc+"/piece/"+l.String(), piece.StatusDealt)
		if got := linkAt(t, r, "aggregate"); !got.Equals(ac) {
			t.Fatalf("dealt piece in %s, want %s", got, ac)
		}
		d, err := r.State().LookupByString("deal")
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := d.LookupByString("provider"); p == nil {
			t.Fatal("dealt piece's deal has no provider")
		}
	}
	b.wg.Wait() // the report's answer is recorded
	b.mu.Lock()
	if len(b.reports) != 1 || b.reports[0] != http.StatusOK {
		t.Errorf("report answers %v, want [200]", b.reports)
	}
	b.mu.Unlock()
	offers := b.taken()
	if len(offers) != 1 || offers[0].Aggregate != ac.String() || len(offers[0].Pieces) != 2 {
		t.Fatalf("offers %+v", offers)
	}
	for i, p := range offers[0].Pieces {
		if p.Content != links[i].String() || p.URL != url+"/piece/"+p.Piece {
			t.Fatalf("offer piece %d: %+v", i, p)
		}
	}
	rep := offers[0].ReportURL
	if !strings.HasPrefix(rep, url+"/broker/report/"+ac.String()+"?sig=") {
		t.Fatalf("reportUrl %s", rep)
	}
	post := func(u, body string) int {
		t.Helper()
		resp, err := http.Post(u, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			var e struct {
				Error struct{ Name, Message string } `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error.Name == "" {
				t.Errorf("%s: %s without a JSON error (%v)", u, resp.Status, err)
			}
		}
		return resp.StatusCode
	}
	deal := `{"deal": {"provider": "f01234", "dealId": 2, "expires": 1767225600}}`
	pcs := offers[0].Pieces[0].Piece
	unknown := url + "/broker/report/" + pcs + "?sig=" + aggregate.ReportSig(secret, cid.MustParse(pcs))
	for _, tc := range []struct {
		name, url, body string
		want            int
	}{
		{"repeated deal", rep, deal, http.StatusOK},
		{"bad sig", strings.Split(rep, "?")[0] + "?sig=" + strings.Repeat("00", 32), deal, http.StatusForbidden},
		{"no sig", strings.Split(rep, "?")[0], deal, http.StatusForbidden},
		{"unknown aggregate", unknown, deal, http.StatusNotFound},
		{"neither form", rep, `{}`, http.StatusBadRequest},
		{"both forms", rep, `{"deal": {"provider": "f01", "dealId": 1, "expires": 1}, "failure": {"reason": "x"}}`, http.StatusBadRequest},
		{"not JSON", rep, `deal`, http.StatusBadRequest},
		// Within the body's 64 KiB but too long to keep: a 400 naming the limit, before
		// the aggregate's state is read (TestServeBrokerFailure: on one in deal_pending).
		{"reason too long", rep, `{"failure": {"reason": "` + strings.Repeat("r", 65_000) + `"}}`, http.StatusBadRequest},
		{"provider too long", rep, `{"deal": {"provider": "` + strings.Repeat("f", server.MaxProvider+1) + `", "dealId": 2, "expires": 1767225600}}`, http.StatusBadRequest},
		{"another deal", rep, `{"deal": {"provider": "f01234", "dealId": 99, "expires": 1767225600}}`, http.StatusConflict},
		{"failure after the deal", rep, `{"failure": {"reason": "late"}}`, http.StatusConflict},
	} {
		if got := post(tc.url, tc.body); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if again := waitEntry(t, c, "/"+svc+"/aggregate/"+aggregate.Key(1), aggregate.StatusDealProcessed); !again.Head().Equals(ag.Head()) {
		t.Fatal("the reports after the deal changed the aggregate")
	}

	// GET /piece: the CAR's bytes, a range of them, 404 for an unknown piece.
	resp, body := httpDo(t, http.MethodGet, offers[0].Pieces[1].URL, nil, map[string]string{"Range": "bytes=10-19"})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, datas[1][10:20]) || resp.Header.Get("Content-Type") != "application/vnd.ipld.car" {
		t.Fatalf("GET /piece range: %s %q %s", resp.Status, body, resp.Header.Get("Content-Type"))
	}
	if resp, _ := httpDo(t, http.MethodGet, url+"/piece/"+ac.String(), nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /piece of an aggregate: %s, want 404", resp.Status)
	}
	if resp, _ := httpDo(t, http.MethodGet, url+"/piece/nope", nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("GET /piece/nope: %s, want 400", resp.Status)
	}
}

// TestServeBrokerFailure: the broker reports a failure for the first offer: the
// aggregate is failed, its pieces are aggregated anew (in their order) into the next
// ingesting aggregate — started by a small third CAR before the failure, so it is
// another aggregate piece CID — which is offered and dealt.
func TestServeBrokerFailure(t *testing.T) {
	b := newFakeBroker(t, 0, 1)
	b.gate = make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(b.gate) }) }
	t.Cleanup(release) // before the broker's cleanup waits for its reports
	_, svc, c, space, _ := brokerService(t, b)
	_, links := storeCARs(t, c, svc, space, 1000, 1000)
	pending := waitEntry(t, c, "/"+svc+"/aggregate/"+aggregate.Key(1), aggregate.StatusDealPending)
	// A failure whose reason is too long to keep is refused with a 400 naming the limit
	// (it was a 500, which a broker retries for ever) and changes nothing.
	long := `{"failure": {"reason": "` + strings.Repeat("r", 65_000) + `"}}`
	resp, body := httpDo(t, http.MethodPost, b.taken()[0].ReportURL, []byte(long), nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "reason is 65000 bytes, at most 4096") {
		t.Fatalf("a report with a 65,000-byte reason: %s %s", resp.Status, body)
	}
	if again := waitEntry(t, c, "/"+svc+"/aggregate/"+aggregate.Key(1), aggregate.StatusDealPending); !again.Head().Equals(pending.Head()) {
		t.Fatal("the refused report changed the aggregate")
	}
	_, third := storeCARs(t, c, svc, space, 400) // 512 padded: ingesting in aggregate 2
	release()
	links = append(third, links...) // aggregate 2: the third CAR, then the first two
	failed := waitEntry(t, c, "/"+svc+"/aggregate/"+aggregate.Key(1), aggregate.StatusFailed)
	if r, _ := failed.State().LookupByString("reason"); r == nil {
		t.Fatal("no reason")
	}
	second := waitEntry(t, c, "/"+svc+"/aggregate/"+aggregate.Key(2), aggregate.StatusDealProcessed)
	ac := linkAt(t, second, "aggregate")
	for _, l := range links {
		r := waitEntry(t, c, "/"+svc+"/piece/"+l.String(), piece.StatusDealt)
		if got := linkAt(t, r, "aggregate"); !got.Equals(ac) {
			t.Fatalf("dealt piece in %s, want the second aggregate %s", got, ac)
		}
	}
	offers := b.taken()
	if len(offers) != 2 || offers[1].Aggregate != ac.String() || offers[0].Aggregate == offers[1].Aggregate {
		t.Fatalf("offers %+v", offers)
	}
	for i, p := range offers[1].Pieces {
		if p.Content != links[i].String() {
			t.Fatalf("second offer piece %d is %s, want %s (the order kept)", i, p.Content, links[i])
		}
	}
}

// TestServeBrokerRetry: the broker answers 500 twice; the offer task retries with the
// runner's backoff until it is taken, and the deal follows.
func TestServeBrokerRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for two backoffs (6 s)")
	}
	b := newFakeBroker(t, 2, 0)
	_, svc, c, space, _ := brokerService(t, b)
	_, links := storeCARs(t, c, svc, space, 1000, 1000)
	waitEntry(t, c, "/"+svc+"/aggregate/"+aggregate.Key(1), aggregate.StatusDealProcessed)
	for _, l := range links {
		waitEntry(t, c, "/"+svc+"/piece/"+l.String(), piece.StatusDealt)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.posts != 3 || len(b.offers) != 1 {
		t.Fatalf("%d offer posts, %d taken; want 3 and 1", b.posts, len(b.offers))
	}
}
