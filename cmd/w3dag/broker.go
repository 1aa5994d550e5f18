package main

// broker.go: `w3dag broker`, the verifying deal-broker simulator of the broker protocol
// (section 5). It takes offers at POST /offers, and in the background downloads every
// piece, checks its size, md5 and commP, recomputes the FRC-0058 aggregate and every
// inclusion proof with package piece, and reports a synthetic deal (or the exact mismatch)
// to the offer's reportUrl.

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/piece"
	"github.com/w3dag/w3dag/server"
)

// Limits and timings of the broker simulator.
const (
	// brokerWorkers is how many offers are verified at once.
	brokerWorkers = 2
	// brokerQueueSize is how many acknowledged offers may wait for a worker; an offer
	// arriving when the queue is full gets 503 (not acknowledged: the service retries).
	brokerQueueSize = 64
	// maxOfferBody is the largest POST /offers body read, in bytes.
	maxOfferBody = 4 << 20
	// maxOfferPieces is the most pieces one offer may list.
	maxOfferPieces = 1 << 16
	// pieceDownloadTimeout bounds one piece download (and its commP).
	pieceDownloadTimeout = 10 * time.Minute
	// reportAttempts is how many times a report is POSTed before the broker gives up.
	reportAttempts = 8
	// reportBackoffStart is the wait after the first failed report attempt; it doubles
	// after each further failure up to reportBackoffMax.
	reportBackoffStart = 500 * time.Millisecond
	// reportBackoffMax is the longest wait between two report attempts.
	reportBackoffMax = 30 * time.Second
	// reportTimeout bounds one report attempt.
	reportTimeout = 30 * time.Second
	// brokerShutdownTimeout is how long shutdown waits for requests in flight.
	brokerShutdownTimeout = 10 * time.Second
	// dealLifetime is how long after the report a synthetic deal expires.
	dealLifetime = 365 * 24 * time.Hour
	// defaultProvider is the storage provider named in deal reports without --provider.
	defaultProvider = "f01000"
	// maxActorID is the longest --provider: "f0" and a uint64 actor id (20 digits).
	maxActorID = 22
)

const brokerUsage = `usage: w3dag broker [--listen ADDR] [--provider f0…] [--fail-with REASON]
  Run a verifying deal broker: it takes offers at POST /offers (the broker protocol),
  then in the background downloads every piece from its url, checks its size, md5 and
  piece CID (commP), recomputes the aggregate piece CID from the pieces in order and
  verifies every inclusion proof against it, and POSTs to the offer's reportUrl a
  synthetic deal (ids from 1) or a failure naming the exact mismatch. --fail-with
  reports that failure for every offer without downloading anything. It prints
  "w3dag broker listening on http://ADDR" on stdout, logs to stderr and stops on
  SIGINT/SIGTERM.`

// offer is the body of POST /offers.
type offer struct {
	Aggregate string       `json:"aggregate"`
	DealSize  uint64       `json:"dealSize"`
	Pieces    []offerPiece `json:"pieces"`
	ReportURL string       `json:"reportUrl"`
}

// offerPiece is one piece of an offer, in aggregate order.
type offerPiece struct {
	Piece   string `json:"piece"`
	Content string `json:"content"`
	Size    int64  `json:"size"`
	MD5     string `json:"md5"`
	URL     string `json:"url"`
}

// brokerReport is the body POSTed to a reportUrl: exactly one of Deal and Failure.
type brokerReport struct {
	Deal    *brokerDeal    `json:"deal,omitempty"`
	Failure *brokerFailure `json:"failure,omitempty"`
}

type brokerDeal struct {
	Provider string `json:"provider"`
	DealID   uint64 `json:"dealId"`
	Expires  int64  `json:"expires"`
}

type brokerFailure struct {
	Reason string `json:"reason"`
}

// failureReport is a failure report with the reason format and args say, cut to the
// service's limit (server.MaxReason) at a character boundary, with "…" at the end of a
// reason that was cut.
func failureReport(format string, args ...any) brokerReport {
	reason := fmt.Sprintf(format, args...)
	if len(reason) > server.MaxReason {
		const ellipsis = "…"
		reason = dag.StateText(reason, server.MaxReason-len(ellipsis)) + ellipsis
	}
	return brokerReport{Failure: &brokerFailure{Reason: reason}}
}

func runBroker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("w3dag broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, brokerUsage)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:8081", "address to listen on (port 0 picks a free port)")
	provider := fs.String("provider", defaultProvider, "storage provider named in deal reports")
	failWith := fs.String("fail-with", "", "report this failure reason for every offer instead of verifying it")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFormat := fs.String("log-format", "json", "log format: json or text")
	pos, code, ok := parseArgs(fs, args, 0, manyArgs)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(stderr, "broker", "unexpected arguments %q", pos)
	}
	if !strings.HasPrefix(*provider, "f0") || len(*provider) < 3 || len(*provider) > maxActorID || strings.Trim((*provider)[2:], "0123456789") != "" {
		return usageError(stderr, "broker", "--provider %q: want a Filecoin actor id address such as f01000", *provider)
	}
	if len(*failWith) > server.MaxReason {
		return usageError(stderr, "broker", "--fail-with is %d bytes: a service takes a reason of at most %d", len(*failWith), server.MaxReason)
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return usageError(stderr, "broker", "%v", err)
	}
	b := newBroker(*provider, *failWith, http.DefaultClient, log)
	if err := b.serve(ctx, *listen, stdout); err != nil {
		log.Error("w3dag broker stopped", "error", err)
		return fail(stderr, "broker", err)
	}
	return 0
}

// broker is the state of a running simulator.
type broker struct {
	provider string
	failWith string
	hc       *http.Client
	log      *slog.Logger
	// backoffStart is the first wait between report attempts (reportBackoffStart; tests
	// shorten it).
	backoffStart time.Duration

	mu     sync.Mutex
	offers map[string]bool // aggregate CIDs acknowledged
	queue  chan offer
	deals  atomic.Uint64 // the last deal id handed out
}

func newBroker(provider, failWith string, hc *http.Client, log *slog.Logger) *broker {
	return &broker{
		provider:     provider,
		failWith:     failWith,
		hc:           hc,
		log:          log,
		backoffStart: reportBackoffStart,
		offers:       map[string]bool{},
		queue:        make(chan offer, brokerQueueSize),
	}
}

// serve listens on addr and runs the HTTP server and the workers until ctx ends.
func (b *broker) serve(ctx context.Context, addr string, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	defer ln.Close()
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	var wg sync.WaitGroup
	for range brokerWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.work(workCtx)
		}()
	}
	srv := &http.Server{Handler: b.handler(), ReadHeaderTimeout: reportTimeout}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "w3dag broker listening on http://%s\n", ln.Addr())
	b.log.Info("broker listening", "listen", ln.Addr().String(), "provider", b.provider, "failWith", b.failWith)
	select {
	case err := <-served:
		stopWork()
		wg.Wait()
		return err
	case <-ctx.Done():
	}
	b.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), brokerShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	stopWork()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	b.log.Info("shut down cleanly")
	return nil
}

// handler serves POST /offers.
func (b *broker) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /offers", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOfferBody))
		if err != nil {
			jsonError(w, http.StatusBadRequest, fmt.Sprintf("reading the body: %v (at most %d bytes)", err, maxOfferBody))
			return
		}
		o, err := parseOffer(body)
		if err != nil {
			jsonError(w, http.StatusBadRequest, err.Error())
			return
		}
		b.mu.Lock()
		if b.offers[o.Aggregate] {
			b.mu.Unlock()
			b.log.Info("offer already taken", "aggregate", o.Aggregate)
			writeJSON(w, http.StatusOK, map[string]string{"status": "already offered"})
			return
		}
		select {
		case b.queue <- o:
			b.offers[o.Aggregate] = true
		default:
			b.mu.Unlock()
			b.log.Warn("offer queue full", "aggregate", o.Aggregate, "queue", brokerQueueSize)
			jsonError(w, http.StatusServiceUnavailable, fmt.Sprintf("%d offers are waiting (brokerQueueSize); retry later", brokerQueueSize))
			return
		}
		b.mu.Unlock()
		b.log.Info("offer accepted", "aggregate", o.Aggregate, "dealSize", o.DealSize, "pieces", len(o.Pieces))
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// parseOffer decodes and validates an offer body; its error says what is wrong.
func parseOffer(body []byte) (offer, error) {
	var o offer
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return o, fmt.Errorf("body is not an offer: %v", err)
	}
	if _, err := piece.Parse(o.Aggregate); err != nil {
		return o, fmt.Errorf("aggregate: %v", err)
	}
	if err := piece.CheckDealSize(o.DealSize); err != nil {
		return o, fmt.Errorf("dealSize: %v", err)
	}
	if len(o.Pieces) == 0 {
		return o, errors.New("pieces: empty")
	}
	if len(o.Pieces) > maxOfferPieces {
		return o, fmt.Errorf("pieces: %d, at most %d (maxOfferPieces)", len(o.Pieces), maxOfferPieces)
	}
	if err := checkHTTPURL(o.ReportURL); err != nil {
		return o, fmt.Errorf("reportUrl: %v", err)
	}
	for i, p := range o.Pieces {
		if _, err := piece.Parse(p.Piece); err != nil {
			return o, fmt.Errorf("pieces[%d].piece: %v", i, err)
		}
		if _, err := cid.Decode(p.Content); err != nil {
			return o, fmt.Errorf("pieces[%d].content %q: not a CID: %v", i, p.Content, err)
		}
		if p.Size <= 0 {
			return o, fmt.Errorf("pieces[%d].size %d: want a positive number of bytes", i, p.Size)
		}
		if m, err := hex.DecodeString(p.MD5); err != nil || len(m) != md5.Size {
			return o, fmt.Errorf("pieces[%d].md5 %q: want %d hex digits", i, p.MD5, 2*md5.Size)
		}
		if err := checkHTTPURL(p.URL); err != nil {
			return o, fmt.Errorf("pieces[%d].url: %v", i, err)
		}
	}
	return o, nil
}

// checkHTTPURL checks that s is an absolute http or https URL.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an absolute http or https URL", s)
	}
	return nil
}

// work verifies queued offers and reports on them until ctx ends.
func (b *broker) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-b.queue:
			b.handle(ctx, o)
		}
	}
}

// handle verifies one offer and reports the outcome.
func (b *broker) handle(ctx context.Context, o offer) {
	log := b.log.With("aggregate", o.Aggregate)
	var rep brokerReport
	if b.failWith != "" {
		log.Info("failing the offer as --fail-with says", "reason", b.failWith)
		rep = brokerReport{Failure: &brokerFailure{Reason: b.failWith}}
	} else {
		var err error
		rep, err = verifyOffer(ctx, b.hc, log, o)
		if err != nil {
			log.Warn("offer not verified", "error", err)
			return
		}
	}
	if rep.Failure == nil {
		rep.Deal = &brokerDeal{Provider: b.provider, DealID: b.deals.Add(1), Expires: time.Now().Add(dealLifetime).Unix()}
		log.Info("deal made", "dealId", rep.Deal.DealID, "provider", rep.Deal.Provider, "expires", rep.Deal.Expires)
	} else {
		log.Info("offer failed", "reason", rep.Failure.Reason)
	}
	if rep.Failure != nil {
		// The service aggregates the pieces of a failed aggregate again; in the same order
		// and alone they make the same aggregate CID, and that new offer must be taken as
		// new, not answered "already offered" (it would then never be reported). Forgotten
		// before the report goes out, so the new offer cannot arrive first.
		b.mu.Lock()
		delete(b.offers, o.Aggregate)
		b.mu.Unlock()
	}
	b.report(ctx, log, o.ReportURL, rep)
}

// verifyOffer checks an offer as a storage provider would: every piece's bytes (size, md5,
// commP), the aggregate piece CID of the pieces in order and every inclusion proof. It
// returns a failure report naming the first mismatch, or a report with neither deal nor
// failure set when everything checks out (the caller makes the deal). Its error is non-nil
// only when the check could not finish because ctx ended.
func verifyOffer(ctx context.Context, hc *http.Client, log *slog.Logger, o offer) (brokerReport, error) {
	pieces := make([]piece.Piece, len(o.Pieces))
	for i, op := range o.Pieces {
		name := fmt.Sprintf("piece %s (#%d of %d)", op.Piece, i+1, len(o.Pieces))
		p, reason, err := checkPiece(ctx, hc, op)
		if err != nil {
			return brokerReport{}, err
		}
		if reason != "" {
			return failureReport("%s: %s", name, reason), nil
		}
		log.Debug("piece verified", "piece", op.Piece, "size", op.Size)
		pieces[i] = p
	}
	a, err := piece.NewAggregate(o.DealSize, pieces)
	if err != nil {
		var fe *piece.FitError
		if errors.As(err, &fe) && fe.Piece >= 0 {
			return failureReport("piece %s (#%d of %d) does not fit in a %d-byte deal: %v", o.Pieces[fe.Piece].Piece, fe.Piece+1, len(o.Pieces), o.DealSize, err), nil
		}
		return failureReport("the pieces do not fit in a %d-byte deal: %v", o.DealSize, err), nil
	}
	got := a.Piece().CID()
	if got.String() != o.Aggregate {
		return failureReport("aggregate: offered %s, the %d pieces in order in a %d-byte deal give %s", o.Aggregate, len(pieces), o.DealSize, got), nil
	}
	log.Debug("aggregate verified", "dealSize", o.DealSize)
	aggCID, err := cid.Decode(o.Aggregate)
	if err != nil { // parseOffer checked it
		return failureReport("aggregate %q: %v", o.Aggregate, err), nil
	}
	for i, s := range a.Segments {
		proof, err := a.Inclusion(i)
		if err == nil {
			// verify what would travel: the encoded proof, decoded again
			var enc []byte
			if enc, err = proof.MarshalBinary(); err == nil {
				var decoded piece.InclusionProof
				if err = decoded.UnmarshalBinary(enc); err == nil {
					err = piece.VerifyInclusion(aggCID, s.Piece.CID(), decoded)
				}
			}
		}
		if err != nil {
			return failureReport("piece %s (#%d of %d): inclusion proof at offset %d does not verify against aggregate %s: %v", o.Pieces[i].Piece, i+1, len(o.Pieces), s.Offset, o.Aggregate, err), nil
		}
	}
	log.Debug("inclusion proofs verified", "pieces", len(pieces))
	return brokerReport{}, nil
}

// checkPiece downloads one piece's bytes and checks their size, md5 and commP. It returns
// the computed piece, or the reason the piece is wrong; its error is non-nil only when ctx
// ended.
func checkPiece(parent context.Context, hc *http.Client, op offerPiece) (piece.Piece, string, error) {
	ctx, cancel := context.WithTimeout(parent, pieceDownloadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, op.URL, nil)
	if err != nil {
		return piece.Piece{}, fmt.Sprintf("url %s: %v", op.URL, err), nil
	}
	resp, err := hc.Do(req)
	if err != nil {
		if parent.Err() != nil {
			return piece.Piece{}, "", err
		}
		return piece.Piece{}, fmt.Sprintf("downloading %s: %v", op.URL, err), nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return piece.Piece{}, fmt.Sprintf("downloading %s: %s", op.URL, resp.Status), nil
	}
	h := md5.New()
	w := piece.NewWriter()
	defer w.Close()
	n, err := io.Copy(io.MultiWriter(h, w), io.LimitReader(resp.Body, op.Size+1))
	if err != nil {
		if parent.Err() != nil {
			return piece.Piece{}, "", err
		}
		return piece.Piece{}, fmt.Sprintf("downloading %s: %v after %d bytes", op.URL, err, n), nil
	}
	if n > op.Size {
		return piece.Piece{}, fmt.Sprintf("%s serves more than the offered size %d bytes", op.URL, op.Size), nil
	}
	if n < op.Size {
		return piece.Piece{}, fmt.Sprintf("%s serves %d bytes, the offer says %d", op.URL, n, op.Size), nil
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(op.MD5) {
		return piece.Piece{}, fmt.Sprintf("downloaded bytes have md5 %s, the offer says %s", got, op.MD5), nil
	}
	p, err := w.Sum()
	if err != nil {
		return piece.Piece{}, fmt.Sprintf("commP of the downloaded bytes: %v", err), nil
	}
	if got := p.CID().String(); got != op.Piece {
		return piece.Piece{}, fmt.Sprintf("downloaded bytes have commP %s, the offer says %s", got, op.Piece), nil
	}
	return p, "", nil
}

// report POSTs rep to reportURL until it gets a 2xx, a 4xx (logged; given up: retrying
// cannot help) or reportAttempts attempts failed, waiting between attempts from
// b.backoffStart, doubling up to reportBackoffMax. It stops early when ctx ends.
func (b *broker) report(ctx context.Context, log *slog.Logger, reportURL string, rep brokerReport) {
	body, err := json.Marshal(rep)
	if err != nil {
		log.Error("encoding the report", "error", err)
		return
	}
	wait := b.backoffStart
	for attempt := 1; attempt <= reportAttempts; attempt++ {
		status, err := b.postReport(ctx, reportURL, body)
		switch {
		case err == nil && status/100 == 2:
			log.Info("reported", "status", status, "attempt", attempt)
			return
		case err == nil && status/100 == 4:
			log.Error("report refused; giving up", "status", status, "attempt", attempt)
			return
		case ctx.Err() != nil:
			log.Warn("report abandoned: shutting down", "attempt", attempt)
			return
		case err != nil:
			log.Warn("report failed", "error", err, "attempt", attempt, "retryIn", wait)
		default:
			log.Warn("report failed", "status", status, "attempt", attempt, "retryIn", wait)
		}
		if attempt == reportAttempts {
			break
		}
		select {
		case <-ctx.Done():
			log.Warn("report abandoned: shutting down", "attempt", attempt)
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, reportBackoffMax)
	}
	log.Error("report not delivered; giving up", "attempts", reportAttempts)
}

// postReport makes one report attempt and returns the response status.
func (b *broker) postReport(ctx context.Context, reportURL string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, reportURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxOfferBody))
	resp.Body.Close()
	return resp.StatusCode, nil
}
