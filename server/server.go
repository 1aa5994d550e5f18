package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/semaphore"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// Limits of the HTTP interface (DESIGN §9). Message-level limits (invocations a message,
// token and block sizes) are message.MaxInvocations, ucan.MaxTokenSize and friends.
const (
	// MaxMessageSize is the largest POST /ucan body, in bytes (4 MiB).
	MaxMessageSize = message.MaxMessageSize
	// MaxInvocations is the most invocations one agent message may carry.
	MaxInvocations = message.MaxInvocations
	// MaxTokenSize is the largest token (block) in a message, in bytes (64 KiB).
	MaxTokenSize = ucan.MaxTokenSize
	// MaxBearerSize is the largest Authorization header value accepted, in bytes.
	MaxBearerSize = 256 << 10
	// DefaultShutdownTimeout is how long Serve waits for in-flight requests on shutdown
	// when Options.ShutdownTimeout is zero.
	DefaultShutdownTimeout = 30 * time.Second
	// ShutdownNewConnGrace is how long Serve, shutting down, lets a connection that has not
	// sent a whole request header yet (a load balancer's TCP check, a client's spare dial,
	// or a request on its way) finish one before it closes the connection: nothing of it
	// has run. Without it, Go's http.Server waits for such a connection until it is 5
	// seconds old, past a shorter ShutdownTimeout.
	ShutdownNewConnGrace = 500 * time.Millisecond
	// DefaultHeartbeat is the interval of SSE keep-alive comments when
	// Options.WatchHeartbeat is zero.
	DefaultHeartbeat = 15 * time.Second
	// DefaultMaxInFlight is how many POST /ucan requests are decoded and run at once when
	// Options.MaxInFlight is zero; more wait their turn. A body is read whole (at
	// Options.MinBodyRate at least) before its request takes a turn, so slow senders
	// cannot hold turns. It bounds the memory that decoded messages and their
	// invocations take.
	DefaultMaxInFlight = 256
	// DefaultReplyBytesInFlight bounds, when Options.ReplyBytesInFlight is zero, the select
	// page bytes all POST /ucan replies being run or written hold together: a message
	// reserves what its selects may return (ops.Budget.ReplyBytes) before running and
	// waits while others hold it. serve --reply-bytes-in-flight.
	DefaultReplyBytesInFlight = 256 << 20
	// MaxHeaderBytes bounds request headers.
	MaxHeaderBytes = 1 << 20
	// DefaultReadHeaderTimeout bounds the time to read request headers when
	// Options.ReadHeaderTimeout is zero.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultMessageReadTimeout bounds, when Options.MessageReadTimeout is zero, the time
	// to read a POST /ucan body (at most MaxMessageSize bytes), so slow senders cannot hold
	// connections open; the body must also keep up Options.MinBodyRate.
	DefaultMessageReadTimeout = 60 * time.Second
	// DefaultIdleTimeout closes keep-alive connections idle this long when
	// Options.IdleTimeout is zero.
	DefaultIdleTimeout = 2 * time.Minute
)

// Runner runs invocations with their authority checked; *ops.Ops implements it.
type Runner interface {
	// Check examines an invocation's command, authority and arguments without writing
	// anything (it runs while the message is being archived).
	Check(inv *ucan.Token, proofs ucan.Loader, b *ops.Budget) *ops.Checked
	// NewBudget returns the work budget of one message, shared by the Checks of its
	// invocations.
	NewBudget() *ops.Budget
	// ExecWith runs a checked invocation that arrived in message msg and returns its
	// signed receipt; opts go to the engine's write operation when the invocation runs as
	// one (ops.Checked.Writes): the server gives dag.WithPreWrite, the write of the
	// message (Archive.Stage). An error is an internal failure: no receipt exists for it.
	ExecWith(ctx context.Context, c *ops.Checked, msg cid.Cid, opts ...dag.OpOption) (ops.Outcome, error)
	// AuthorizeWatch checks that inv (with proofs) may read the entries under p. It
	// returns a *ucan.Error naming the failure, or another error for internal failures.
	// On success it returns which entries the watch may show (nil: all).
	AuthorizeWatch(ctx context.Context, inv *ucan.Token, proofs ucan.Loader, p dag.Path) (func(dag.Path) bool, error)
}

// Store reads committed blocks and follows the commit log; *dag.Engine implements it.
type Store interface {
	// Block returns a stored block (receipt or invocation); dag.ErrNotFound when absent.
	Block(ctx context.Context, c cid.Cid) ([]byte, error)
	// ChainStored calls fn for the receipt head and every receipt before it through
	// origin links, head first, without verifying their signatures again (they are the
	// service's own, stored when issued); fn's error ends the walk and is returned.
	ChainStored(ctx context.Context, head cid.Cid, fn func(*ucan.Token, *receipts.Receipt) error) error
	// TaskResult returns the CID of the stored result receipt of task, or dag.ErrNotFound.
	TaskResult(ctx context.Context, task cid.Cid) (cid.Cid, error)
	// Watch sends every committed receipt under prefix with a sequence greater than
	// after, in order, until ctx ends.
	Watch(ctx context.Context, prefix dag.Path, after uint64) (<-chan dag.Event, error)
	// LastSeq returns the last committed sequence.
	LastSeq(ctx context.Context) (uint64, error)
	// RecordReply indexes the reply message msg that carried the receipts of invs
	// (invocation/<inv>/<msg>.out), running dag.WithPreWrite's write (the reply's
	// archiving, Archive.Stage) in the same transaction.
	RecordReply(ctx context.Context, msg cid.Cid, invs []cid.Cid, opts ...dag.OpOption) error
	// Canonical checks a parsed path against the collections (dag.ErrInvalidPath,
	// dag.ErrUnknownCollection) and normalises its key.
	Canonical(p dag.Path) (dag.Path, error)
	// Failed returns why the store has failed (wrapping kv.ErrFailed): it takes no
	// writes until the service restarts. Nil while it works. GET /healthz reports it.
	Failed() error
}

// Archive stores messages as they went over the wire; *archive.Archive implements it.
type Archive interface {
	// Put stores data and returns its CID (codec given); nothing may run if it fails.
	Put(ctx context.Context, codec uint64, data []byte) (cid.Cid, error)
	// PutRefusal stores, instead of data, a small record that every invocation in it was
	// refused (how many invocations, the sender, the refusal names) and returns data's
	// CID; the reply is not archived then.
	PutRefusal(ctx context.Context, codec uint64, data []byte, invocations int, sender string, names []string) (cid.Cid, error)
	// Stage prepares data (its CID msg) to be written in the engine's transaction that
	// runs its one invocation, or that indexes a reply, rather than before: write, given
	// to the operation with dag.WithPreWrite, writes it in every attempt of that
	// transaction; committed is called once the operation returned (it committed). A
	// transaction that did not commit left nothing: Put then. ok is false when the
	// archive cannot write in the engine's transactions (no outbox there, a message
	// larger than a kv value): Put then, before running anything.
	Stage(codec uint64, data []byte) (msg cid.Cid, write func(kt kv.Tx) error, committed func(), ok bool)
}

// Blobs serves the /blob/{cid} routes: uploads to the signed URLs the store machine hands
// out (fs backend) and reads of held CARs.
type Blobs interface {
	// Upload checks the signed query of an upload URL (signature, expiry, size, digest)
	// and streams exactly size bytes from r into storage, verifying them against c.
	// ErrForbidden (wrapped) for a bad or expired signature; ErrBadRequest,
	// blob.ErrSizeMismatch or blob.ErrDigestMismatch for bytes that are not c's.
	Upload(ctx context.Context, c cid.Cid, r io.Reader, size int64, query url.Values) error
	// Open returns the bytes of c, or the range rng of them, and the Info of the whole
	// blob (Info.Size is the size of the blob, not of the range); blob.ErrNotFound,
	// blob.ErrInvalidRange.
	Open(ctx context.Context, c cid.Cid, rng *blob.Range) (io.ReadCloser, blob.Info, error)
}

// Claims serves GET /claims/{cid}: short-lived signed location claims of a CAR.
type Claims interface {
	// Claims returns the claim tokens for c (at least one), or ErrNotFound (wrapped).
	Claims(ctx context.Context, c cid.Cid) ([]*ucan.Token, error)
}

// Options configure a Server. Service, Runner, Store and Archive are required.
type Options struct {
	// Service is the service's identity; its DID is the subject of service collections
	// and the issuer of receipts. Only its public half is used here.
	Service did.Verifier
	// PublicURL is the URL clients reach the service at, published in did.json; empty
	// leaves the service endpoint out of the document.
	PublicURL string
	Runner    Runner
	Store     Store
	Archive   Archive
	// Blobs, when not nil, mounts PUT and GET /blob/{cid}.
	Blobs Blobs
	// Claims, when not nil, mounts GET /claims/{cid}.
	Claims Claims
	// Pieces, when not nil, mounts GET /piece/{cid}.
	Pieces Pieces
	// Broker, when not nil, mounts POST /broker/report/{aggregate}.
	Broker Broker
	// Gateway, when not nil, serves GET and HEAD /ipfs/{cid}[/path…] (package gateway).
	Gateway http.Handler
	// Index, when not nil, serves GET /index/{space}/{root} (gateway.NewIndex).
	Index http.Handler
	// Logger receives request errors and recovered panics; nil discards.
	Logger *slog.Logger
	// Registerer receives the server's Prometheus collectors and Gatherer serves them at
	// /metrics; nil uses a fresh registry private to this server (with the Go and
	// process collectors).
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Limits bounds decoded messages; the zero value is message's defaults (DESIGN §9).
	Limits message.Limits
	// ShutdownTimeout bounds how long Serve waits for in-flight requests after its
	// context ends; zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// WatchHeartbeat is the interval of SSE keep-alive comments; zero means
	// DefaultHeartbeat.
	WatchHeartbeat time.Duration
	// MaxInFlight bounds the POST /ucan requests handled at once; zero means
	// DefaultMaxInFlight.
	MaxInFlight int
	// ReplyBytesInFlight bounds the select page bytes of the replies being run or written
	// at once; zero means DefaultReplyBytesInFlight.
	ReplyBytesInFlight int64
	// MinBodyRate is the slowest average rate, in bytes per second, at which POST /ucan
	// and PUT /blob bodies may arrive once BodyRateGrace has passed; zero means
	// DefaultMinBodyRate.
	MinBodyRate int64
	// MaxWatchers bounds the GET /watch streams open at once; zero means
	// DefaultMaxWatchers.
	MaxWatchers int
	// MaxWatchersPerSpace bounds the GET /watch streams open at once on one subject (a
	// space, or the service); zero means DefaultMaxWatchersPerSpace.
	MaxWatchersPerSpace int
	// MessageReadTimeout bounds the time to read a whole POST /ucan body (408 past it);
	// zero means DefaultMessageReadTimeout.
	MessageReadTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long (Serve's http.Server);
	// zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ReadHeaderTimeout bounds the time to read a request's headers (Serve's
	// http.Server): a connection whose headers have not all arrived by then is closed.
	// Zero means DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// WatchWriteTimeout bounds each write of a GET /watch stream (the connection's write
	// deadline, set before every event and heartbeat): a client that stops reading is
	// disconnected once a write has waited this long. Zero means DefaultWatchWriteTimeout.
	WatchWriteTimeout time.Duration
	// MaxUploads bounds the PUT /blob bodies received at once (more get 503); zero means
	// DefaultMaxUploads.
	MaxUploads int
	// Schema describes the DAG for GET /schema: the collections of spaces and of the
	// service, and the schema sources (system schema and extensions) they are declared
	// in. Nil does not mount GET /schema (it answers 404 like any unknown route). New
	// rejects a description that fails collection.Description.Check.
	Schema *collection.Description
}

// Server is the HTTP interface. It is an http.Handler.
type Server struct {
	opts    Options
	log     *slog.Logger
	handler http.Handler
	metrics *metrics
	didDoc  []byte

	schemaDoc  []byte // body of GET /schema; nil when not mounted
	schemaETag string

	inFlight  chan struct{} // a slot per POST /ucan being handled
	uploads   *uploads      // PUT /blob bodies being received
	watchers  *watchers     // GET /watch streams open
	closing   chan struct{} // closed when Serve starts shutting down: ends watch streams
	closeOnce sync.Once
	bg        sync.WaitGroup // reply archiving after answering

	// replyBytes is reserved by each POST /ucan for its select pages (ReplyBytesInFlight).
	replyBytes *semaphore.Weighted
}

// New builds a Server.
func New(opts Options) (*Server, error) {
	if opts.Service == nil || opts.Runner == nil || opts.Store == nil || opts.Archive == nil {
		return nil, errors.New("server: Service, Runner, Store and Archive are required")
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.WatchHeartbeat <= 0 {
		opts.WatchHeartbeat = DefaultHeartbeat
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.ReplyBytesInFlight <= 0 {
		opts.ReplyBytesInFlight = DefaultReplyBytesInFlight
	}
	if opts.MinBodyRate <= 0 {
		opts.MinBodyRate = DefaultMinBodyRate
	}
	if opts.MaxUploads <= 0 {
		opts.MaxUploads = DefaultMaxUploads
	}
	if opts.MaxWatchers <= 0 {
		opts.MaxWatchers = DefaultMaxWatchers
	}
	if opts.MaxWatchersPerSpace <= 0 {
		opts.MaxWatchersPerSpace = DefaultMaxWatchersPerSpace
	}
	if opts.MessageReadTimeout <= 0 {
		opts.MessageReadTimeout = DefaultMessageReadTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if opts.WatchWriteTimeout <= 0 {
		opts.WatchWriteTimeout = DefaultWatchWriteTimeout
	}
	opts.Limits = withDefaults(opts.Limits)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		opts.Registerer, opts.Gatherer = reg, reg
	}
	if opts.Gatherer == nil {
		return nil, errors.New("server: Gatherer is required with Registerer")
	}
	m, err := newMetrics(opts.Registerer, func() error { return opts.Store.Failed() })
	if err != nil {
		return nil, fmt.Errorf("server: registering metrics: %w", err)
	}
	doc, err := didDocument(opts.Service.DID(), opts.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	schemaDoc, err := schemaDocument(opts)
	if err != nil {
		return nil, fmt.Errorf("server: GET /schema: %w", err)
	}
	s := &Server{opts: opts, log: log, metrics: m, didDoc: doc, closing: make(chan struct{}), inFlight: make(chan struct{}, opts.MaxInFlight),
		replyBytes: semaphore.NewWeighted(opts.ReplyBytesInFlight)}
	s.uploads = newUploads(opts.MaxUploads)
	s.watchers = &watchers{max: opts.MaxWatchers, perSpace: opts.MaxWatchersPerSpace, bySpace: make(map[string]int)}
	if schemaDoc != nil {
		s.schemaDoc, s.schemaETag = schemaDoc, etag(schemaDoc)
	}
	s.routes()
	return s, nil
}

// withDefaults fills the limits the server checks itself (body, token size, invocation
// count) that l leaves zero.
func withDefaults(l message.Limits) message.Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = MaxMessageSize
	}
	if l.MaxBlockSize <= 0 {
		l.MaxBlockSize = MaxTokenSize
	}
	if l.MaxInvocations <= 0 {
		l.MaxInvocations = MaxInvocations
	}
	return l
}

func (s *Server) routes() {
	r := mux.NewRouter()
	r.StrictSlash(false)
	r.Use(s.routeName)
	r.HandleFunc("/ucan", s.postUCAN).Methods(http.MethodPost).Name("ucan")
	r.HandleFunc("/receipts/{cid}", s.getReceipt).Methods(http.MethodGet, http.MethodHead).Name("receipts")
	r.HandleFunc("/watch/{did}/{path:.*}", s.watch).Methods(http.MethodGet).Name("watch")
	r.HandleFunc("/watch/{did}", s.watch).Methods(http.MethodGet).Name("watch")
	if s.opts.Blobs != nil {
		r.HandleFunc("/blob/{cid}", s.putBlob).Methods(http.MethodPut).Name("blob")
		r.HandleFunc("/blob/{cid}", s.getBlob).Methods(http.MethodGet, http.MethodHead).Name("blob")
	}
	if s.opts.Pieces != nil {
		r.HandleFunc("/piece/{cid}", s.getPiece).Methods(http.MethodGet, http.MethodHead).Name("piece")
	}
	if s.opts.Broker != nil {
		r.HandleFunc("/broker/report/{aggregate}", s.postReport).Methods(http.MethodPost).Name("broker-report")
	}
	if s.opts.Claims != nil {
		r.HandleFunc("/claims/{cid}", s.getClaims).Methods(http.MethodGet).Name("claims")
	}
	if s.schemaDoc != nil {
		r.HandleFunc("/schema", s.getSchema).Methods(http.MethodGet, http.MethodHead).Name("schema")
	}
	if s.opts.Gateway != nil {
		r.PathPrefix("/ipfs/").Handler(s.opts.Gateway).Methods(http.MethodGet, http.MethodHead).Name("ipfs")
	} else {
		r.PathPrefix("/ipfs/").HandlerFunc(gatewayOff).Name("ipfs")
	}
	if s.opts.Index != nil {
		r.PathPrefix("/index/").Handler(s.opts.Index).Methods(http.MethodGet).Name("index")
	} else {
		r.PathPrefix("/index/").HandlerFunc(gatewayOff).Name("index")
	}
	r.Handle("/metrics", s.metricsHandler()).Methods(http.MethodGet).Name("metrics")
	r.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet, http.MethodHead).Name("healthz")
	r.HandleFunc("/.well-known/did.json", s.didJSON).Methods(http.MethodGet, http.MethodHead).Name("did")
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, NameNotFound, "no route for "+r.Method+" "+r.URL.Path)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, NameMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path)
	})
	s.handler = s.instrument(s.recoverer(r))
}

// gatewayOff answers /ipfs/ and /index/ on a service without a gateway (Options.Gateway,
// Options.Index nil; serve --gateway=false): 404 GatewayDisabled, saying so, rather than
// a bare "no route" that reads like an unknown CID.
func gatewayOff(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, NameGatewayOff, "this service does not serve content by CID: its gateway is disabled (serve --gateway=false); "+r.URL.Path+" is not available here")
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Serve serves HTTP on ln until ctx ends, then stops accepting connections, ends watch
// streams and waits (up to Options.ShutdownTimeout) for in-flight requests to finish,
// closing the connections that have not sent a request within ShutdownNewConnGrace. It
// returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	var fresh newConns
	hs.ConnState = fresh.track
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.Close()
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- hs.Shutdown(sctx) }()
	var err error
	select {
	case err = <-shut:
	case <-time.After(ShutdownNewConnGrace):
		fresh.close()
		err = <-shut
	}
	<-errc // Serve returns ErrServerClosed once Shutdown starts
	s.Wait()
	if err != nil {
		return fmt.Errorf("server: shutting down: %w", err)
	}
	return nil
}

// newConns are the connections that have not sent a request yet (http.StateNew).
type newConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// track is the http.Server's ConnState hook.
func (n *newConns) track(c net.Conn, st http.ConnState) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if st != http.StateNew {
		delete(n.conns, c)
		return
	}
	if n.conns == nil {
		n.conns = map[net.Conn]struct{}{}
	}
	n.conns[c] = struct{}{}
}

// close closes the connections that have not sent a request yet.
func (n *newConns) close() {
	n.mu.Lock()
	conns := make([]net.Conn, 0, len(n.conns))
	for c := range n.conns {
		conns = append(conns, c)
	}
	n.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Wait returns when the work the server does after answering (archiving replies) is
// done. Serve calls it while shutting down; callers that serve through ServeHTTP call it
// before closing what the server writes to.
func (s *Server) Wait() { s.bg.Wait() }

// Close ends open watch streams; requests in flight are not interrupted.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
}

// healthz serves GET /healthz: 200 while the service works; 503 while it shuts down, and
// once its store has failed (StoreFailed: the service answers reads but takes no writes
// until it is restarted, which is what an orchestrator's liveness probe then does). The
// store's error is the operator's, in the log; the route is public.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.closing:
		writeError(w, http.StatusServiceUnavailable, NameUnavailable, "shutting down")
		return
	default:
	}
	if s.opts.Store.Failed() != nil {
		writeError(w, http.StatusServiceUnavailable, NameStoreFailed, storeFailedMsg+" (the log says why)")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "{\"status\":\"ok\",\"did\":%q}\n", s.opts.Service.DID())
}

func (s *Server) didJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/did+json")
	w.Write(s.didDoc)
}
