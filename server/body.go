package server

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// Limits on request bodies and uploads (docs/SECURITY.md, "Connections and uploads").
const (
	// DefaultMinBodyRate is the slowest a request body (POST /ucan, PUT /blob) may arrive
	// on average, in bytes per second, when Options.MinBodyRate is zero: after
	// BodyRateGrace, a body must have delivered MinBodyRate bytes for every second since
	// the request began, or its connection's read deadline passes (408).
	DefaultMinBodyRate = 16 << 10
	// BodyRateGrace is the time a request body has before the minimum rate applies
	// (connection set-up, a slow start).
	BodyRateGrace = 5 * time.Second
	// DefaultMaxUploads is how many PUT /blob bodies are received at once when
	// Options.MaxUploads is zero; more are refused with 503 and Retry-After. Each upload
	// holds the fs backend's pipeline buffers (blob/fs.PipelineDepth ×
	// blob/fs.CopyBufferSize, 8 MiB) and, where the endpoint computes the CAR's piece
	// while storing it (store.BlobsOptions.Pieces, serve --upload-piece), its commP
	// segment buffers (2·machines/piece.ComputeWorkers+1 of about 1 MiB: 5 MiB on 4
	// cores), so the cap bounds them (256 MiB by default, 416 MiB with the piece on 4).
	DefaultMaxUploads = 32
	// BusyRetryAfter is the Retry-After, in seconds, of a request answered 503 because the
	// store gave up committing what it ran (dag.ErrBusy: it kept conflicting with other
	// nodes' writes; nothing of it was written): a POST /ucan's invocations, a PUT /blob's
	// delivery.
	BusyRetryAfter = 1
	// UploadRetryAfter is the Retry-After, in seconds, of a PUT /blob refused because
	// DefaultMaxUploads (Options.MaxUploads) uploads are running.
	UploadRetryAfter = 5
	// DefaultMaxWatchers is how many GET /watch streams may be open at once when
	// Options.MaxWatchers is zero; more are refused with 503.
	DefaultMaxWatchers = 4096
	// DefaultMaxWatchersPerSpace is how many GET /watch streams may be open at once on
	// one subject when Options.MaxWatchersPerSpace is zero; more are refused with 429.
	DefaultMaxWatchersPerSpace = 32
	// DefaultWatchWriteTimeout bounds each write of a GET /watch stream (an event, a
	// heartbeat) when Options.WatchWriteTimeout is zero: a client that stops reading is
	// disconnected once a write has waited this long, and its stream's place, goroutine
	// and buffers are released.
	DefaultWatchWriteTimeout = 30 * time.Second
)

// rateBody is a request body whose connection read deadline moves with the bytes
// received: at any time the body must have delivered rate bytes a second since start,
// after a grace period; a body that falls behind fails with os.ErrDeadlineExceeded.
// Deadlines are best effort with ResponseWriters that do not support them.
type rateBody struct {
	r     io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	rate  int64
	limit time.Time // zero: no overall deadline
	n     int64
	err   error // the last read's error
}

// newRateBody wraps r's body; limit, when positive, also bounds the whole body's time.
func newRateBody(w http.ResponseWriter, r *http.Request, rate int64, limit time.Duration) *rateBody {
	b := &rateBody{r: r.Body, rc: http.NewResponseController(w), start: time.Now(), rate: rate}
	if limit > 0 {
		b.limit = b.start.Add(limit)
	}
	return b
}

func (b *rateBody) Read(p []byte) (int, error) {
	d := b.start.Add(BodyRateGrace + time.Duration(float64(b.n)/float64(b.rate)*float64(time.Second)))
	if !b.limit.IsZero() && d.After(b.limit) {
		d = b.limit
	}
	_ = b.rc.SetReadDeadline(d)
	n, err := b.r.Read(p)
	b.n += int64(n)
	b.err = err
	return n, err
}

// Close closes the body. After a body read to its end it clears the deadline (the
// connection may serve further requests); otherwise the deadline stays, so the server
// cannot block discarding the rest of a slow body after the handler.
func (b *rateBody) Close() error {
	if b.err == io.EOF {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return b.r.Close()
}

// uploads admits PUT /blob bodies: at most max at once, and one at a time per CID (a
// second concurrent upload of the same CID, through the same upload URL or another, is
// refused: two writers would only race to store the same bytes).
type uploads struct {
	mu     sync.Mutex
	max    int
	active map[string]bool
}

func newUploads(max int) *uploads { return &uploads{max: max, active: make(map[string]bool)} }

// errUploadBusy and errUploadsFull say why an upload was not admitted.
type admitError int

const (
	errUploadBusy admitError = iota + 1
	errUploadsFull
)

// admit reserves key; done releases it.
func (u *uploads) admit(key string) (done func(), why admitError) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.active[key] {
		return nil, errUploadBusy
	}
	if len(u.active) >= u.max {
		return nil, errUploadsFull
	}
	u.active[key] = true
	return func() {
		u.mu.Lock()
		delete(u.active, key)
		u.mu.Unlock()
	}, 0
}

// watchers counts the open GET /watch streams, in total and per subject.
type watchers struct {
	mu       sync.Mutex
	max      int
	perSpace int
	total    int
	bySpace  map[string]int
}

// admit reserves a stream on subject; done releases it. status is 503 (too many in
// total) or 429 (too many on the subject) when it is refused.
func (w *watchers) admit(subject string) (done func(), status int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.total >= w.max:
		return nil, http.StatusServiceUnavailable
	case w.bySpace[subject] >= w.perSpace:
		return nil, http.StatusTooManyRequests
	}
	w.total++
	w.bySpace[subject]++
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.total--
		if w.bySpace[subject]--; w.bySpace[subject] == 0 {
			delete(w.bySpace, subject)
		}
	}, 0
}
