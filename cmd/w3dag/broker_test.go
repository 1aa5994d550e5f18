package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/piece"
	"github.com/w3dag/w3dag/server"
)

// testCAR is a CAR built for a broker test with its piece.
type testCAR struct {
	bytes   []byte
	content cid.Cid
	piece   piece.Piece
}

// newTestCAR is a CAR holding one raw block of n random bytes.
func newTestCAR(t *testing.T, n int) testCAR {
	t.Helper()
	payload := make([]byte, n)
	rand.Read(payload)
	blk := message.NewBlock(message.CodecRaw, payload)
	car, err := message.EncodeCAR([]cid.Cid{blk.CID}, []message.Block{blk})
	if err != nil {
		t.Fatal(err)
	}
	p, err := piece.Compute(bytes.NewReader(car))
	if err != nil {
		t.Fatal(err)
	}
	return testCAR{bytes: car, content: message.CID(car), piece: p}
}

// fakeService stands in for the w3dag service: it serves GET /piece/<cid> and records the
// reports POSTed to /broker/report/<aggregate>.
type fakeService struct {
	srv *httptest.Server

	mu       sync.Mutex
	cars     map[string][]byte   // piece CID → CAR bytes
	gets     int                 // piece downloads
	attempts map[string]int      // report POSTs by aggregate
	reports  map[string][]string // accepted reports by aggregate (raw bodies)
	fail     int                 // answer 500 to this many report POSTs of each aggregate
	status   int                 // if not 0, answer every report POST with it
	got      chan reported
}

type reported struct {
	aggregate string
	report    brokerReport
}

func newFakeService(t *testing.T) *fakeService {
	f := &fakeService{cars: map[string][]byte{}, attempts: map[string]int{}, reports: map[string][]string{}, got: make(chan reported, 100)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /piece/{cid}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		car, ok := f.cars[r.PathValue("cid")]
		f.gets++
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.ipld.car")
		w.Write(car)
	})
	mux.HandleFunc("POST /broker/report/{agg}", func(w http.ResponseWriter, r *http.Request) {
		agg := r.PathValue("agg")
		if r.URL.Query().Get("sig") != "good" {
			http.Error(w, "bad sig", http.StatusForbidden)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var rep brokerReport
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rep); err != nil || (rep.Deal == nil) == (rep.Failure == nil) || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("report for %s is neither a deal nor a failure: %s (%v)", agg, body, err)
			http.Error(w, "bad report", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.attempts[agg]++
		if f.status != 0 || f.attempts[agg] <= f.fail {
			status := f.status
			if status == 0 {
				status = http.StatusInternalServerError
			}
			f.mu.Unlock()
			w.WriteHeader(status)
			return
		}
		f.reports[agg] = append(f.reports[agg], string(body))
		f.mu.Unlock()
		f.got <- reported{agg, rep}
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// downloads is how many piece downloads the service has served.
func (f *fakeService) downloads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets
}

// reportAttempts is how many report POSTs for agg the service has answered.
func (f *fakeService) reportAttempts(agg string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[agg]
}

func (f *fakeService) add(cars ...testCAR) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cars {
		f.cars[c.piece.CID().String()] = c.bytes
	}
}

// next waits for the next accepted report.
func (f *fakeService) next(t *testing.T) reported {
	t.Helper()
	select {
	case r := <-f.got:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no report within 30s")
	}
	return reported{}
}

// offerOf is the honest offer of cars in a deal of dealSize, served by f.
func (f *fakeService) offerOf(t *testing.T, dealSize uint64, cars ...testCAR) offer {
	t.Helper()
	pieces := make([]piece.Piece, len(cars))
	o := offer{DealSize: dealSize}
	for i, c := range cars {
		pieces[i] = c.piece
		sum := md5.Sum(c.bytes)
		o.Pieces = append(o.Pieces, offerPiece{
			Piece: c.piece.CID().String(), Content: c.content.String(), Size: int64(len(c.bytes)),
			MD5: hex.EncodeToString(sum[:]), URL: f.srv.URL + "/piece/" + c.piece.CID().String(),
		})
	}
	a, err := piece.NewAggregate(dealSize, pieces)
	if err != nil {
		t.Fatal(err)
	}
	o.Aggregate = a.Piece().CID().String()
	o.ReportURL = f.srv.URL + "/broker/report/" + o.Aggregate + "?sig=good"
	return o
}

// startBroker runs `w3dag broker` in-process on a free port and returns its URL; the
// test's cleanup stops it and checks that it exited cleanly.
func startBroker(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"broker", "--listen", "127.0.0.1:0", "--log-format", "text"}, args...), pw, &stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 || !strings.Contains(stderr.String(), "shut down cleanly") {
			t.Errorf("broker exit code %d, not shut down cleanly:\n%s", code, stderr.String())
		}
	})
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatal("broker printed nothing")
	}
	url, ok := strings.CutPrefix(sc.Text(), "w3dag broker listening on ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("first line %q", sc.Text())
	}
	go io.Copy(io.Discard, pr)
	return url
}

// postOffer POSTs body to the broker's /offers and returns the status and the response.
func postOffer(t *testing.T, brokerURL string, body any) (int, string) {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Post(brokerURL+"/offers", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(rb)
}

// TestBrokerDeals: honest offers get deal reports with ids 1 and 2; a repeated offer is
// acknowledged with 200 and reported once.
func TestBrokerDeals(t *testing.T) {
	clearEnv(t)
	f := newFakeService(t)
	a, b, c := newTestCAR(t, 300), newTestCAR(t, 1000), newTestCAR(t, 3000)
	d, e := newTestCAR(t, 500), newTestCAR(t, 2000)
	f.add(a, b, c, d, e)
	url := startBroker(t, "--provider", "f01234")

	first := f.offerOf(t, 16384, a, b, c)
	before := time.Now()
	if code, body := postOffer(t, url, first); code != http.StatusAccepted {
		t.Fatalf("first offer: %d %s", code, body)
	}
	r := f.next(t)
	if r.aggregate != first.Aggregate || r.report.Deal == nil {
		t.Fatalf("report %+v for %s, want a deal for %s (failure: %+v)", r.report, r.aggregate, first.Aggregate, r.report.Failure)
	}
	if got := *r.report.Deal; got.DealID != 1 || got.Provider != "f01234" {
		t.Errorf("deal %+v, want dealId 1 with provider f01234", got)
	}
	if exp := time.Unix(r.report.Deal.Expires, 0); exp.Before(before.Add(dealLifetime-time.Second)) || exp.After(time.Now().Add(dealLifetime)) {
		t.Errorf("deal expires %s, want a year from now", exp)
	}
	if n := f.downloads(); n != 3 {
		t.Errorf("%d piece downloads, want 3", n)
	}

	if code, body := postOffer(t, url, first); code != http.StatusOK {
		t.Errorf("repeated offer: %d %s, want 200", code, body)
	}
	second := f.offerOf(t, 8192, e, d)
	if code, body := postOffer(t, url, second); code != http.StatusAccepted {
		t.Fatalf("second offer: %d %s", code, body)
	}
	r = f.next(t)
	if r.aggregate != second.Aggregate || r.report.Deal == nil || r.report.Deal.DealID != 2 {
		t.Fatalf("report %+v for %s, want deal 2 for %s", r.report, r.aggregate, second.Aggregate)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := f.attempts[first.Aggregate]; n != 1 {
		t.Errorf("the first aggregate was reported %d times, want once", n)
	}
}

// TestBrokerFailures: each mismatch is reported as a failure naming it (which piece,
// what the offer says and what the broker computed).
func TestBrokerFailures(t *testing.T) {
	clearEnv(t)
	f := newFakeService(t)
	url := startBroker(t, "--log-level", "debug")
	// Each case has its own CARs, so its offer is a new aggregate (not a repeated offer).
	cases := []struct {
		name string
		// mutate spoils the honest offer of a, b, c in a 16384-byte deal and returns what
		// the failure reason must say; other is served but not offered.
		mutate func(o *offer, a, b, c, other testCAR) []string
	}{
		{"wrong piece CID", func(o *offer, a, b, c, other testCAR) []string {
			// piece #2 is offered as other's piece, but its url serves b's bytes
			o.Pieces[1].Piece = other.piece.CID().String()
			return []string{"piece " + other.piece.CID().String() + " (#2 of 3): ", "downloaded bytes have commP " + b.piece.CID().String() + ", the offer says " + other.piece.CID().String()}
		}},
		{"wrong aggregate", func(o *offer, a, b, c, other testCAR) []string {
			honest := o.Aggregate
			o.Aggregate = f.offerOf(t, 16384, a, c, b).Aggregate
			return []string{"aggregate: offered " + o.Aggregate + ", the 3 pieces in order in a 16384-byte deal give " + honest}
		}},
		{"wrong deal size", func(o *offer, a, b, c, other testCAR) []string {
			o.DealSize = 32768
			return []string{"aggregate: offered " + o.Aggregate + ", the 3 pieces in order in a 32768-byte deal give " + f.offerOf(t, 32768, a, b, c).Aggregate}
		}},
		{"md5 mismatch", func(o *offer, a, b, c, other testCAR) []string {
			o.Pieces[2].MD5 = md5hex(a.bytes)
			return []string{"piece " + c.piece.CID().String() + " (#3 of 3): ", "downloaded bytes have md5 " + md5hex(c.bytes) + ", the offer says " + md5hex(a.bytes)}
		}},
		{"longer download", func(o *offer, a, b, c, other testCAR) []string {
			o.Pieces[0].Size--
			return []string{"piece " + a.piece.CID().String() + " (#1 of 3): ", "serves more than the offered size " + strconv.Itoa(len(a.bytes)-1)}
		}},
		{"shorter download", func(o *offer, a, b, c, other testCAR) []string {
			o.Pieces[0].Size++
			return []string{"piece " + a.piece.CID().String() + " (#1 of 3): ", "serves " + strconv.Itoa(len(a.bytes)) + " bytes, the offer says " + strconv.Itoa(len(a.bytes)+1)}
		}},
		{"unknown piece", func(o *offer, a, b, c, other testCAR) []string {
			o.Pieces[1].URL = f.srv.URL + "/piece/" + newTestCAR(t, 10).piece.CID().String()
			return []string{"piece " + b.piece.CID().String() + " (#2 of 3): ", "404 Not Found"}
		}},
		{"does not fit", func(o *offer, a, b, c, other testCAR) []string {
			o.DealSize = 4096 // a (512 padded) fits; b (1000 bytes and the CAR's, 2048 padded) runs into the index
			return []string{"piece " + b.piece.CID().String() + " (#2 of 3) does not fit in a 4096-byte deal"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b, c, other := newTestCAR(t, 300), newTestCAR(t, 1000), newTestCAR(t, 3000), newTestCAR(t, 1000)
			f.add(a, b, c, other)
			o := f.offerOf(t, 16384, a, b, c)
			want := tc.mutate(&o, a, b, c, other)
			o.ReportURL = f.srv.URL + "/broker/report/" + o.Aggregate + "?sig=good"
			if code, body := postOffer(t, url, o); code != http.StatusAccepted {
				t.Fatalf("offer: %d %s", code, body)
			}
			r := f.next(t)
			if r.aggregate != o.Aggregate || r.report.Failure == nil {
				t.Fatalf("report %+v for %s, want a failure for %s", r.report, r.aggregate, o.Aggregate)
			}
			for _, w := range want {
				if !strings.Contains(r.report.Failure.Reason, w) {
					t.Errorf("failure %q does not say %q", r.report.Failure.Reason, w)
				}
			}
		})
	}
}

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// TestBrokerMalformedOffers: offers that do not follow the protocol get 400 with a JSON
// error saying what is wrong, and no report.
func TestBrokerMalformedOffers(t *testing.T) {
	clearEnv(t)
	f := newFakeService(t)
	a := newTestCAR(t, 300)
	f.add(a)
	url := startBroker(t)
	cases := []struct {
		name   string
		mutate func(o *offer)
		body   string
		want   string
	}{
		{name: "not JSON", body: "{", want: "body is not an offer"},
		{name: "unknown field", body: `{"aggregate": "x", "extra": 1}`, want: "unknown field"},
		{name: "aggregate not a piece CID", mutate: func(o *offer) { o.Aggregate = a.content.String() }, want: "aggregate:"},
		{name: "aggregate v1 piece CID", mutate: func(o *offer) { v1, _ := a.piece.V1(); o.Aggregate = v1.String() }, want: "aggregate:"},
		{name: "deal size not a power of two", mutate: func(o *offer) { o.DealSize = 3000 }, want: "dealSize:"},
		{name: "deal size zero", mutate: func(o *offer) { o.DealSize = 0 }, want: "dealSize:"},
		{name: "no pieces", mutate: func(o *offer) { o.Pieces = nil }, want: "pieces: empty"},
		{name: "piece not a piece CID", mutate: func(o *offer) { o.Pieces[0].Piece = "bafy" }, want: "pieces[0].piece:"},
		{name: "content not a CID", mutate: func(o *offer) { o.Pieces[0].Content = "nope" }, want: "pieces[0].content"},
		{name: "size zero", mutate: func(o *offer) { o.Pieces[0].Size = 0 }, want: "pieces[0].size 0"},
		{name: "size negative", mutate: func(o *offer) { o.Pieces[0].Size = -5 }, want: "pieces[0].size -5"},
		{name: "md5 short", mutate: func(o *offer) { o.Pieces[0].MD5 = "abcd" }, want: "pieces[0].md5"},
		{name: "md5 not hex", mutate: func(o *offer) { o.Pieces[0].MD5 = strings.Repeat("z", 32) }, want: "pieces[0].md5"},
		{name: "piece url relative", mutate: func(o *offer) { o.Pieces[0].URL = "/piece/x" }, want: "pieces[0].url"},
		{name: "report url relative", mutate: func(o *offer) { o.ReportURL = "/broker/report/x" }, want: "reportUrl:"},
		{name: "report url ftp", mutate: func(o *offer) { o.ReportURL = "ftp://example.org/r" }, want: "reportUrl:"},
		{name: "report url missing", mutate: func(o *offer) { o.ReportURL = "" }, want: "reportUrl:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any = tc.body
			if tc.mutate != nil {
				o := f.offerOf(t, 4096, a)
				tc.mutate(&o)
				body = o
			}
			code, resp := postOffer(t, url, body)
			var e struct{ Error string }
			if code != http.StatusBadRequest || json.Unmarshal([]byte(resp), &e) != nil || !strings.Contains(e.Error, tc.want) {
				t.Errorf("%d %s, want 400 with an error saying %q", code, resp, tc.want)
			}
		})
	}
	// the well-formed offer is taken
	if code, resp := postOffer(t, url, f.offerOf(t, 4096, a)); code != http.StatusAccepted {
		t.Fatalf("good offer: %d %s", code, resp)
	}
	if r := f.next(t); r.report.Deal == nil || r.report.Deal.DealID != 1 || r.report.Deal.Provider != defaultProvider {
		t.Errorf("report %+v, want deal 1 with provider %s", r.report, defaultProvider)
	}
	if resp, err := http.Get(url + "/offers"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /offers: %v %v, want 405", resp, err)
	}
}

// TestBrokerFailWith: --fail-with reports that failure for every offer, downloading nothing.
func TestBrokerFailWith(t *testing.T) {
	clearEnv(t)
	f := newFakeService(t)
	a, b := newTestCAR(t, 300), newTestCAR(t, 600)
	f.add(a, b)
	url := startBroker(t, "--fail-with", "no storage provider wants it")
	for _, o := range []offer{f.offerOf(t, 4096, a), f.offerOf(t, 4096, a, b)} {
		if code, resp := postOffer(t, url, o); code != http.StatusAccepted {
			t.Fatalf("offer: %d %s", code, resp)
		}
		r := f.next(t)
		if r.aggregate != o.Aggregate || r.report.Failure == nil || r.report.Failure.Reason != "no storage provider wants it" {
			t.Errorf("report %+v for %s, want the --fail-with failure for %s", r.report, r.aggregate, o.Aggregate)
		}
	}
	// After a failure the service offers the pieces again; alone and in the same order
	// they make the same aggregate CID, which must be taken as a new offer.
	again := f.offerOf(t, 4096, a)
	if code, resp := postOffer(t, url, again); code != http.StatusAccepted {
		t.Fatalf("offer of a failed aggregate again: %d %s, want 202", code, resp)
	}
	if r := f.next(t); r.aggregate != again.Aggregate || r.report.Failure == nil {
		t.Errorf("report %+v for %s, want a second failure report for %s", r.report, r.aggregate, again.Aggregate)
	}
	if n := f.downloads(); n != 0 {
		t.Errorf("%d piece downloads with --fail-with, want none", n)
	}
}

// TestBrokerReportRetries: a report answered 500 twice is POSTed a third time, and
// delivered once.
func TestBrokerReportRetries(t *testing.T) {
	clearEnv(t)
	f := newFakeService(t)
	f.fail = 2
	a := newTestCAR(t, 300)
	f.add(a)
	url := startBroker(t)
	o := f.offerOf(t, 4096, a)
	if code, resp := postOffer(t, url, o); code != http.StatusAccepted {
		t.Fatalf("offer: %d %s", code, resp)
	}
	if r := f.next(t); r.report.Deal == nil || r.report.Deal.DealID != 1 {
		t.Fatalf("report %+v, want deal 1", r.report)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.attempts[o.Aggregate] != 3 || len(f.reports[o.Aggregate]) != 1 {
		t.Errorf("%d attempts, %d delivered; want 3 and 1", f.attempts[o.Aggregate], len(f.reports[o.Aggregate]))
	}
}

// TestBrokerReportGivesUp: report stops at a 4xx after one attempt, and after
// reportAttempts attempts of 5xx.
func TestBrokerReportGivesUp(t *testing.T) {
	for _, tc := range []struct {
		status, attempts int
	}{{http.StatusConflict, 1}, {http.StatusForbidden, 1}, {http.StatusBadGateway, reportAttempts}} {
		f := newFakeService(t)
		f.status = tc.status
		var logs bytes.Buffer
		b := newBroker(defaultProvider, "", http.DefaultClient, slog.New(slog.NewTextHandler(&logs, nil)))
		b.backoffStart = time.Millisecond
		agg := newTestCAR(t, 100).piece.CID().String()
		b.report(context.Background(), b.log, f.srv.URL+"/broker/report/"+agg+"?sig=good", failureReport("test"))
		if n := f.reportAttempts(agg); n != tc.attempts {
			t.Errorf("answered %d: %d attempts, want %d", tc.status, n, tc.attempts)
		}
		if !strings.Contains(logs.String(), "giving up") {
			t.Errorf("answered %d: the log does not say it gave up:\n%s", tc.status, logs.String())
		}
	}
}

// TestBrokerFlags: the command's flag errors and help.
func TestBrokerFlags(t *testing.T) {
	clearEnv(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"broker", "-h"}, 0, "usage: w3dag broker"},
		{[]string{"broker", "--provider", "t01000"}, 2, `--provider "t01000"`},
		{[]string{"broker", "--provider", "f0"}, 2, `--provider "f0"`},
		{[]string{"broker", "--provider", "f0" + strings.Repeat("1", 21)}, 2, `--provider "f0111`},
		{[]string{"broker", "--fail-with", strings.Repeat("r", server.MaxReason+1)}, 2, "--fail-with is 4097 bytes: a service takes a reason of at most 4096"},
		{[]string{"broker", "--log-level", "loud"}, 2, `--log-level "loud"`},
		{[]string{"broker", "--log-format", "xml"}, 2, `--log-format "xml"`},
		{[]string{"broker", "extra"}, 2, `unexpected arguments`},
		{[]string{"broker", "--listen", "256.0.0.1:1"}, 1, "listening on 256.0.0.1:1"},
	} {
		_, stderr, code := cli(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.want, stderr)
		}
	}
	// the environment twin of --provider
	t.Setenv("W3DAG_PROVIDER", "f0777")
	f := newFakeService(t)
	a := newTestCAR(t, 300)
	f.add(a)
	url := startBroker(t)
	if code, resp := postOffer(t, url, f.offerOf(t, 4096, a)); code != http.StatusAccepted {
		t.Fatalf("offer: %d %s", code, resp)
	}
	if r := f.next(t); r.report.Deal == nil || r.report.Deal.Provider != "f0777" {
		t.Errorf("report %+v, want a deal with provider f0777 (W3DAG_PROVIDER)", r.report)
	}
}

// TestFailureReportCut: a failure reason the broker computes is cut to what a service
// takes (server.MaxReason), at a character boundary, ending with "…"; a shorter one is
// sent as it is.
func TestFailureReportCut(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		cut          bool
	}{
		{"short", "piece x: commP y", false},
		{"at the limit", strings.Repeat("r", server.MaxReason), false},
		{"over it", strings.Repeat("r", server.MaxReason+1), true},
		{"over it, in characters of 3 bytes", strings.Repeat("€", server.MaxReason), true},
	} {
		got := failureReport("%s", tc.reason).Failure.Reason
		switch {
		case !utf8.ValidString(got) || len(got) > server.MaxReason:
			t.Errorf("%s: a reason of %d bytes (valid UTF-8: %v), want at most %d", tc.name, len(got), utf8.ValidString(got), server.MaxReason)
		case !tc.cut && got != tc.reason:
			t.Errorf("%s: %d bytes sent as %d", tc.name, len(tc.reason), len(got))
		case tc.cut && (!strings.HasSuffix(got, "…") || !strings.HasPrefix(tc.reason, strings.TrimSuffix(got, "…")) || len(got) < server.MaxReason-4):
			t.Errorf("%s: cut to %d bytes ending %q, want a prefix of the reason just under %d with …", tc.name, len(got), got[max(0, len(got)-8):], server.MaxReason)
		}
	}
}
