package main

// wire.go is the composition root of the service: serve opens the stores, builds the
// machines, the engine, ops, archive and HTTP server, and wires them together by hand.
// Nothing else in the module constructs concrete backends or registers collections.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/archive/replay"
	"github.com/w3dag/w3dag/blob"
	blobfs "github.com/w3dag/w3dag/blob/fs"
	"github.com/w3dag/w3dag/blob/s3"
	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/gateway"
	"github.com/w3dag/w3dag/internal/nodefield"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/bolt"
	"github.com/w3dag/w3dag/kv/pebble"
	"github.com/w3dag/w3dag/kv/postgres"
	"github.com/w3dag/w3dag/machines"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/blockindex"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/store"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/server"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// serve runs the service configured by c until ctx ends.
func serve(ctx context.Context, c serveConfig, stdout io.Writer, log *slog.Logger) error {
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return fmt.Errorf("creating data folder: %w", err)
	}
	var err error
	if c.kv, c.postgresURL, err = resolveKV(c); err != nil {
		return err
	}
	signer, created, err := loadServiceKey(filepath.Join(c.data, serviceKeyFile))
	if err != nil {
		return err
	}
	if created {
		log.Info("created service key", "file", filepath.Join(c.data, serviceKeyFile), "did", signer.DID())
	}
	sch, err := loadSchema(c.schemas)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", c.listen, err)
	}
	defer ln.Close()
	publicURL := strings.TrimSuffix(c.publicURL, "/")
	if publicURL == "" {
		publicURL = "http://" + ln.Addr().String()
	}

	kvs, err := openKV(ctx, c, log)
	if err != nil {
		return err
	}
	defer kvs.Close()
	blobs, err := openBlobs(ctx, c, publicURL, log)
	if err != nil {
		return err
	}
	if cl, ok := blobs.(io.Closer); ok {
		defer cl.Close()
	}
	if fsb, ok := blobs.(*blobfs.Store); ok {
		defer sweepTemp(ctx, fsb, c.uploadTTL, log)()
	}
	watchPoll := c.watchPoll
	if watchPoll == 0 && c.kv == "postgres" {
		watchPoll = defaultWatchPollShared
	}
	index, pieces := uploadStages(c)
	storeMachine, aggMachine, registered, err := collections(c, publicURL, blobs, log, func(o *store.Options) { o.Index, o.Pieces = index, pieces })
	if err != nil {
		return err
	}
	brokerSecret, err := loadSecret(c.brokerSecretPath())
	if err != nil {
		return err
	}
	var offers *aggregate.OfferOptions
	if c.broker != "" {
		offers = &aggregate.OfferOptions{Broker: c.broker, PublicURL: publicURL, Secret: brokerSecret, Blobs: blobs,
			Logger: log.With("component", "offer")}
	}
	// The service's own invocations are archived in the engine's transactions, through
	// the kv outbox whatever --archive-outbox says; that flag chooses how client
	// messages are archived. An embedded kv is this process's alone (locked): the
	// archive's mover may move what it put without reading it back; PostgreSQL may be
	// shared by several services.
	archOpts := archive.Options{Logger: log.With("component", "archive"), Outbox: kvs, Direct: !c.outbox,
		OwnOutbox: c.kv != "postgres"}
	var engine *dag.Engine
	if c.outbox {
		// Messages go into the engine's group commit, sharing transactions (and fsyncs)
		// with the operations; with Commit set, the server writes a message of one write
		// invocation in the transaction that runs it (archive.Archive.Stage), and a reply
		// with its index.
		archOpts.Commit = func(ctx context.Context, fn func(kv.Tx) error) error {
			return engine.Update(ctx, func(t *dag.Tx) error {
				kt, err := t.KV(archive.KVPrefix)
				if err != nil {
					return err
				}
				return fn(kt)
			})
		}
	}
	arch := archive.New(blobs, archOpts)
	defer arch.Close()
	var self dag.Archiver // nil: the service's own invocations are blocks only
	if !c.noArchiveSelf {
		self = arch
	}
	engine, err = dag.Open(ctx, dag.Options{
		KV:            kvs,
		Collections:   registered,
		Signer:        signer,
		Schema:        sch,
		Logger:        log.With("component", "dag"),
		MaxBatch:      c.maxBatch,
		MaxBatchDelay: c.batchDelay,
		WatchPoll:     watchPoll,
		Archive:       self,
	})
	if err != nil {
		return fmt.Errorf("opening the engine: %w", err)
	}
	defer engine.Close()
	if err := archiveSchema(ctx, engine, arch, sch, log); err != nil {
		return err
	}
	if offers != nil {
		// Ready aggregates whose offer is not under way (made ready without --broker,
		// refused, or out of attempts) are offered again, before the runner starts.
		n, err := aggMachine.ResumeOffers(ctx, engine)
		if err != nil {
			return err
		}
		if n > 0 {
			log.Info("offers resumed", "aggregates", n)
		}
	}
	// Pieces read back from blob storage wait (at most store.YieldMax) for the uploads
	// being received, which share the cores with them.
	inflight := &store.InFlight{}
	defer runTasks(ctx, engine, storeMachine, aggMachine, blobs, offers, c.taskLease, inflight, log)()
	if c.logsOn() {
		stop, err := runLogExporter(ctx, engine, kvs, blobs, c.logsInterval, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	endpoint, err := newBlobEndpoint(engine, blobs, signer, c.claimTTL, log, index, pieces, inflight)
	if err != nil {
		return err
	}
	reg := metricsRegistry(engine)
	opsOpts := ops.Options{
		Engine:    engine,
		Signer:    signer,
		Validator: ucan.NewValidator(ucan.ValidatorOptions{}),
		Logger:    log.With("component", "ops"),
		// ops.Budget of each message: zero takes ops' defaults.
		MessageWork:   c.messageWork,
		MessageProofs: c.messageProofs,
		// Byte budgets of select pages and of one reply's pages.
		SelectPageBytes:   c.selectPageBytes,
		MessageReplyBytes: c.messageReplyBytes,
	}
	if c.publicReads {
		// The collections whose collection.Spec sets PublicRead (machines.Builtin).
		opsOpts.PublicRead = engine.PublicRead
	}
	runner, err := ops.New(opsOpts)
	if err != nil {
		return err
	}
	moveCtx, stopMoving := context.WithCancel(context.WithoutCancel(ctx))
	moved := make(chan error, 1)
	go func() { moved <- arch.Run(moveCtx) }()
	defer func() {
		stopMoving()
		<-moved
	}()
	var gw, gwIndex http.Handler
	if !c.noGateway {
		var spaces []string
		for _, sp := range strings.Split(c.gwSpaces, ",") {
			if sp = strings.TrimSpace(sp); sp != "" {
				spaces = append(spaces, sp)
			}
		}
		gwOpts := gateway.Options{Spaces: spaces, Logger: log.With("component", "gateway")}
		if gw, err = gateway.New(engine, blobs, gwOpts); err != nil {
			return err
		}
		gwIndex = gateway.NewIndex(engine, gwOpts)
	}
	srv, err := server.New(server.Options{
		Gateway:             gw,
		Index:               gwIndex,
		Service:             signer,
		PublicURL:           publicURL,
		Runner:              runner,
		Store:               engine,
		Archive:             arch,
		Blobs:               endpoint,
		Claims:              endpoint,
		Pieces:              endpoint,
		Broker:              &reportEndpoint{engine: engine, secret: brokerSecret},
		Registerer:          reg,
		Gatherer:            reg,
		Logger:              log.With("component", "server"),
		ShutdownTimeout:     c.shutdown,
		Schema:              schemaInfo(engine, c.publicReads),
		MinBodyRate:         c.minBodyRate,
		MaxInFlight:         c.maxInFlight,
		MaxUploads:          c.maxUploads,
		Limits:              message.Limits{MaxSize: c.maxBodyBytes},
		MaxWatchers:         c.maxWatchers,
		MaxWatchersPerSpace: c.maxWatchersPerSpace,
		WatchWriteTimeout:   c.watchWriteTimeout,
		// select page bytes of replies in flight (ops.Budget.ReplyBytes reserved)
		ReplyBytesInFlight: c.replyBytesInFlight,
	})
	if err != nil {
		return err
	}
	if c.pprof != "" {
		stop, err := servePprof(c.pprof, stdout, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Fprintf(stdout, "w3dag serving %s\nservice DID %s\nlistening on http://%s\n", publicURL, signer.DID(), ln.Addr())
	log.Info("serving", "url", publicURL, "listen", ln.Addr().String(), "did", signer.DID(), "kv", c.kv, "blob", c.blob, "data", c.data)
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	log.Info("shut down cleanly")
	return nil
}

// archiveSchema archives the schema sources the service runs with (the system schema and
// the --schema extensions) and records them as the set in effect after the last commit
// sequence (archive.PutSchemas), so a replay of the archive finds them.
func archiveSchema(ctx context.Context, engine *dag.Engine, arch *archive.Archive, sch *schema.Schema, log *slog.Logger) error {
	last, err := engine.LastSeq(ctx)
	if err != nil {
		return fmt.Errorf("archiving the schema: %w", err)
	}
	var names []string
	var texts [][]byte
	for _, src := range sch.Sources() {
		names = append(names, src.Name)
		texts = append(texts, src.Text)
	}
	set, err := arch.PutSchemas(ctx, last, names, texts)
	if err != nil {
		return fmt.Errorf("archiving the schema: %w", err)
	}
	log.Debug("schema archived", "sources", len(set.Sources), "after", set.After)
	return nil
}

// storeLocator is the carwhere locator of the configured blob backend: the service's own
// GET /blob/<cid> for fs, the bucket's object URL for s3.
func storeLocator(c serveConfig, publicURL string) (carwhere.Locator, error) {
	switch c.blob {
	case "fs":
		return carwhere.FSLocator(c.blobFolder(), publicURL), nil
	case "s3":
		o, err := s3.ParseURL(c.s3URL)
		if err != nil {
			return nil, fmt.Errorf("--s3-url: %w", err)
		}
		return carwhere.S3Locator(carwhere.S3Bucket{Endpoint: o.Endpoint, Region: o.Region, Bucket: o.Bucket, Prefix: o.Prefix, PathStyle: o.PathStyle}), nil
	}
	return nil, fmt.Errorf("--blob %q: want fs or s3", c.blob)
}

// uploadStages returns what the upload endpoint hands the store machine: one block index
// (the endpoint stages scans, the store machine writes them) and, with --upload-piece, the
// pieces the endpoint computes for the deliveries' compute tasks (md5 only when offers,
// which carry it, are made); nil pieces: the compute tasks read the CARs back.
func uploadStages(c serveConfig) (*blockindex.Index, *piece.Staged) {
	var pieces *piece.Staged
	if c.uploadPiece {
		pieces = piece.NewStaged(c.broker != "")
	}
	return blockindex.New(), pieces
}

// collections builds the store machine over the blob store and the aggregate machine with
// the configured bounds (making offers when --broker is set), and returns both with every
// collection the engine registers (machines.BuiltinWith); tune adjusts the store
// machine's options (tests).
func collections(c serveConfig, publicURL string, blobs blob.Store, log *slog.Logger, tune ...func(*store.Options)) (*store.Machine, *aggregate.Machine, []dag.Collection, error) {
	loc, err := storeLocator(c, publicURL)
	if err != nil {
		return nil, nil, nil, err
	}
	so := store.Options{Blobs: blobs, Locator: loc, MaxBlobSize: c.maxBlobSize, UploadURLTTL: c.uploadTTL, Logger: log.With("component", "store")}
	for _, f := range tune {
		f(&so)
	}
	sm, err := store.New(so)
	if err != nil {
		return nil, nil, nil, err
	}
	var opts []aggregate.Option
	if c.broker != "" {
		opts = append(opts, aggregate.WithOffers())
	}
	agg, err := aggregate.New(c.aggregateBounds(), opts...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--aggregate-min, --aggregate-max: %w", err)
	}
	return sm, agg, machines.BuiltinWith(sm, agg), nil
}

// runTasks runs the task runner of engine with the handlers of the store machine, of the
// piece machine (which reads CARs from blobs) and of the aggregate machine agg — with the
// offer handler when offers is not nil (--broker) — until the returned stop is called
// (before the engine closes). lease is how long a claim on a task lasts without renewal
// (--task-lease; zero is task.DefaultLease). inflight counts the uploads being received,
// which the compute tasks wait for (at most store.YieldMax) before they read a CAR back.
func runTasks(ctx context.Context, engine *dag.Engine, sm *store.Machine, agg *aggregate.Machine, blobs blob.Store, offers *aggregate.OfferOptions, lease time.Duration, inflight *store.InFlight, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	handlers := sm.Handlers(engine)
	// The md5 of a CAR is only for offers: without them (no --broker) it is not hashed.
	popts := piece.ComputeOptions{Logger: log.With("component", "piece"), NoMD5: offers == nil, Yield: inflight.Wait}
	maps.Copy(handlers, piece.HandlersWith(engine, blobs, popts))
	maps.Copy(handlers, agg.Handlers(engine, log.With("component", "aggregate")))
	if offers != nil {
		handlers[aggregate.OfferCommand] = aggregate.OfferHandler(engine, *offers)
	}
	r := task.NewRunner(engine, handlers, task.RunnerOptions{Lease: lease, Logger: log.With("component", "task")})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			log.Error("task runner stopped", "error", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// sweepTemp removes the temporary files of uploads abandoned for longer than the upload
// URLs live (a process killed mid-upload leaves them, up to MaxBlobSize each), at start
// and every tempSweepInterval, until the returned stop is called.
func sweepTemp(ctx context.Context, fsb *blobfs.Store, ttl time.Duration, log *slog.Logger) (stop func()) {
	if ttl <= 0 {
		ttl = store.DefaultUploadURLTTL // as the store machine takes a zero TTL
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fsb.Sweep(ctx, ttl, min(ttl, tempSweepInterval), log.With("component", "blobs"))
	}()
	return func() {
		cancel()
		<-done
	}
}

// metricsRegistry is the Prometheus registry /metrics serves: the Go and process
// collectors (what the server registers when given no registry) and the service-wide
// counters the machines keep (machines/metrics), read from the engine on every scrape.
func metricsRegistry(engine *dag.Engine) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), metrics.Collector(engine))
	return reg
}

// blobEndpoint is the server's Blobs and Claims over the store and carwhere machines,
// translating their errors into the server's (403 for upload URLs that are not good, 400
// for CIDs no store entry can have, 404 for claims of a CID that is not a CAR).
type blobEndpoint struct {
	engine *dag.Engine
	blobs  *store.Blobs
	claims *carwhere.Claims
}

func newBlobEndpoint(engine *dag.Engine, blobs blob.Store, signer did.Signer, claimTTL time.Duration, log *slog.Logger, index *blockindex.Index, pieces *piece.Staged, inflight *store.InFlight) (*blobEndpoint, error) {
	b, err := store.NewBlobs(engine, blobs, store.BlobsOptions{Logger: log.With("component", "blobs"), Index: index, Pieces: pieces, InFlight: inflight})
	if err != nil {
		return nil, err
	}
	return &blobEndpoint{engine: engine, blobs: b, claims: carwhere.NewClaims(engine, signer, carwhere.ClaimsOptions{TTL: claimTTL})}, nil
}

func (b *blobEndpoint) Upload(ctx context.Context, c cid.Cid, r io.Reader, size int64, query url.Values) error {
	return uploadError(b.blobs.Upload(ctx, c, r, size, query))
}

func (b *blobEndpoint) CheckUpload(ctx context.Context, c cid.Cid, size int64, query url.Values) error {
	return uploadError(b.blobs.CheckUpload(ctx, c, size, query))
}

// uploadError translates the store's upload errors into the server's: 403 for upload
// URLs that are not good, 400 for CIDs no store entry can have.
func uploadError(err error) error {
	switch {
	case errors.Is(err, blob.ErrPresignInvalid), errors.Is(err, blob.ErrPresignExpired), errors.Is(err, blob.ErrNoPresign):
		return fmt.Errorf("%w: %w", server.ErrForbidden, err)
	case errors.Is(err, store.ErrUnsupportedCID):
		return fmt.Errorf("%w: %w", server.ErrBadRequest, err)
	}
	return err
}

func (b *blobEndpoint) Open(ctx context.Context, c cid.Cid, rng *blob.Range) (io.ReadCloser, blob.Info, error) {
	return b.blobs.Open(ctx, c, rng)
}

// OpenPiece serves GET /piece/{cid}: the CAR whose piece is pc (the piece machine's
// index), read like GET /blob/{cid}; 404 for a piece no computed CAR has.
func (b *blobEndpoint) OpenPiece(ctx context.Context, pc cid.Cid, rng *blob.Range) (io.ReadCloser, blob.Info, error) {
	content, err := piece.Content(ctx, b.engine, pc)
	if errors.Is(err, piece.ErrUnknownPiece) {
		return nil, blob.Info{}, fmt.Errorf("%w: %w", server.ErrNotFound, err)
	}
	if err != nil {
		return nil, blob.Info{}, err
	}
	return b.blobs.Open(ctx, content, rng)
}

// reportEndpoint is the server's Broker: report URLs signed with secret
// (aggregate.ReportSig), reports applied with aggregate.Report.
type reportEndpoint struct {
	engine *dag.Engine
	secret []byte
}

func (r *reportEndpoint) Authorize(agg cid.Cid, sig string) error {
	if !aggregate.CheckReportSig(r.secret, agg, sig) {
		return fmt.Errorf("%w: the sig of the report URL of %s is not the service's", server.ErrForbidden, agg)
	}
	return nil
}

func (r *reportEndpoint) Report(ctx context.Context, agg cid.Cid, rep server.Report) error {
	var deal *aggregate.Deal
	reason := ""
	if rep.Deal != nil {
		deal = &aggregate.Deal{Provider: rep.Deal.Provider, DealID: rep.Deal.DealID, Expires: rep.Deal.Expires}
	} else {
		reason = rep.Failure.Reason
	}
	err := aggregate.Report(ctx, r.engine, agg, deal, reason)
	switch {
	case errors.Is(err, aggregate.ErrUnknownAggregate):
		return fmt.Errorf("%w: %w", server.ErrNotFound, err)
	case errors.Is(err, aggregate.ErrConflict):
		return fmt.Errorf("%w: %w", server.ErrConflict, err)
	}
	return err
}

func (b *blobEndpoint) Claims(ctx context.Context, c cid.Cid) ([]*ucan.Token, error) {
	toks, err := b.claims.Claims(ctx, c)
	if errors.Is(err, carwhere.ErrNotCAR) {
		return nil, fmt.Errorf("%w: %w", server.ErrNotFound, err)
	}
	return toks, err
}

// loadServiceKey reads the service key file, creating it (mode 0600) on first start.
func loadServiceKey(path string) (did.Signer, bool, error) {
	s, err := did.ReadKeyFile(path)
	if err == nil {
		return s, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("reading service key: %w", err)
	}
	s, err = did.GenerateEd25519()
	if err != nil {
		return nil, false, fmt.Errorf("generating service key: %w", err)
	}
	if err := did.WriteKeyFile(path, s); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first: use theirs.
			s, err = did.ReadKeyFile(path)
			if err != nil {
				return nil, false, fmt.Errorf("reading service key: %w", err)
			}
			return s, false, nil
		}
		return nil, false, fmt.Errorf("writing service key: %w", err)
	}
	return s, true, nil
}

func loadSchema(files []string) (*schema.Schema, error) {
	var srcs []schema.Source
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading schema extension: %w", err)
		}
		srcs = append(srcs, schema.Source{Name: f, Text: b})
	}
	s, err := schema.LoadSources(srcs...)
	if err != nil {
		return nil, fmt.Errorf("loading schema: %w", err) // names the file and line
	}
	return s, nil
}

// resolveKV returns the kv backend c names ("pebble", "bolt" or "postgres") and the
// PostgreSQL URL. --kv may be a postgres:// URL; empty --kv picks what the data folder
// holds (a bolt file stays bolt) and pebble for a new folder. Naming one embedded backend
// for a folder that holds only the other is refused rather than starting an empty store.
func resolveKV(c serveConfig) (kind, pgURL string, err error) {
	kind, pgURL = c.kv, c.postgresURL
	if strings.HasPrefix(kind, "postgres://") || strings.HasPrefix(kind, "postgresql://") {
		if pgURL != "" && pgURL != kind {
			return "", "", errors.New("--kv names a PostgreSQL URL and --postgres-url another: give one")
		}
		return "postgres", kind, nil
	}
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(c.data, name))
		return err == nil
	}
	hasBolt, hasPebble := exists(boltFile), exists(pebbleDir)
	switch kind {
	case "":
		if hasBolt {
			return "bolt", pgURL, nil
		}
		return "pebble", pgURL, nil
	case "bolt":
		if hasPebble && !hasBolt {
			return "", "", fmt.Errorf("--kv bolt: data folder %s holds a pebble store (%s), not a bolt file (%s); use --kv pebble", c.data, pebbleDir, boltFile)
		}
	case "pebble":
		if hasBolt && !hasPebble {
			return "", "", fmt.Errorf("--kv pebble: data folder %s holds a bolt file (%s), not a pebble store (%s); use --kv bolt", c.data, boltFile, pebbleDir)
		}
	}
	return kind, pgURL, nil
}

// inUse adds what to do to the error of opening an embedded store that another process
// has open.
func inUse(err error) error {
	if errors.Is(err, pebble.ErrLocked) {
		return fmt.Errorf("%w (stop the w3dag serve, replay or verify that has it open first)", err)
	}
	return err
}

func openKV(ctx context.Context, c serveConfig, log *slog.Logger) (kv.Store, error) {
	switch c.kv {
	case "pebble":
		s, err := pebble.Open(filepath.Join(c.data, pebbleDir), pebble.Options{Logger: log.With("component", "pebble")})
		if err != nil {
			return nil, inUse(err)
		}
		return s, nil
	case "bolt":
		s, err := bolt.Open(filepath.Join(c.data, boltFile), bolt.Options{})
		if err != nil {
			return nil, err // it names the file, and says when another process holds it
		}
		return s, nil
	case "postgres":
		if c.postgresURL == "" {
			return nil, errors.New("--kv postgres needs --postgres-url (W3DAG_POSTGRES_URL)")
		}
		s, err := postgres.Open(ctx, c.postgresURL, postgres.Options{
			Schema: c.pgSchema, Logger: log.With("component", "postgres"),
			// Every commit writes the commit sequence, so writers from several nodes
			// would only fail one another: they queue instead (see SerialWrites).
			SerialWrites: true,
		})
		if err != nil {
			return nil, fmt.Errorf("opening postgres store: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("--kv %q: want pebble, bolt, postgres or a postgres:// URL", c.kv)
}

func openBlobs(ctx context.Context, c serveConfig, publicURL string, log *slog.Logger) (blob.Store, error) {
	switch c.blob {
	case "fs":
		secret, err := loadSecret(filepath.Join(c.data, blobSecretFile))
		if err != nil {
			return nil, err
		}
		s, err := blobfs.Open(c.blobFolder(), blobfs.Options{
			Secret: secret,
			URL:    func(key string) string { return publicURL + "/blob/" + blobCID(key) },
		})
		if err != nil {
			return nil, fmt.Errorf("opening fs blob store: %w", err)
		}
		return s, nil
	case "s3":
		if c.s3URL == "" {
			return nil, errors.New("--blob s3 needs --s3-url (W3DAG_S3_URL)")
		}
		opts, err := s3.ParseURL(c.s3URL)
		if err != nil {
			return nil, fmt.Errorf("--s3-url: %w", err)
		}
		opts.Logger = log.With("component", "s3")
		s, err := s3.Open(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("opening s3 blob store: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("--blob %q: want fs or s3", c.blob)
}

// blobCID is the CID a carpark key names ("carpark/<cid>/<cid>.car" → "<cid>"), the
// {cid} of the PUT /blob/{cid} upload URL.
func blobCID(key string) string {
	parts := strings.Split(key, "/")
	if len(parts) == 3 && parts[0] == "carpark" {
		return parts[1]
	}
	return key
}

// blobFolder is the folder of fs blobs: --data's blobs, or blobsFolder when set.
func (c serveConfig) blobFolder() string {
	if c.blobsFolder != "" {
		return c.blobsFolder
	}
	return filepath.Join(c.data, blobsDir)
}

// brokerSecretPath is the file of the broker secret: --broker-secret-file, or
// broker.secret in the data folder.
func (c serveConfig) brokerSecretPath() string {
	if c.brokerSecret != "" {
		return c.brokerSecret
	}
	return filepath.Join(c.data, brokerSecretFile)
}

// loadSecret reads a hex secret (the upload-URL secret, the broker secret), creating it
// (mode 0600) on first start.
func loadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(secret) < blobfs.MinSecretLength {
			return nil, fmt.Errorf("%s does not hold a hex secret of at least %d bytes", path, blobfs.MinSecretLength)
		}
		return secret, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading secret %s: %w", path, err)
	}
	secret := make([]byte, blobSecretSize)
	rand.Read(secret)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("writing secret %s: %w", path, err)
	}
	_, werr := fmt.Fprintln(f, hex.EncodeToString(secret))
	serr := f.Sync()
	if cerr := f.Close(); werr == nil && serr == nil {
		werr = cerr
	}
	if werr != nil || serr != nil {
		return nil, fmt.Errorf("writing secret %s: %w", path, errors.Join(werr, serr))
	}
	return secret, nil
}

// replayService is what a replay drives: the engine and ops of the original service's
// configuration over an empty store, with a clock the replay sets.
type replayService struct {
	kv       kv.Store
	engine   *dag.Engine
	ops      *ops.Ops
	clock    *replayClock
	handlers map[string]replay.Handler
	place    map[string]replay.Placer
	// prepared is the time the store machine presigns the next upload URL at (zero:
	// the replay's clock).
	prepared atomic.Int64
	// alone and before run each store put that was pending alone, with the store
	// machine's clock at the time it was prepared (replay.Options.Alone, Before).
	alone  func(*replay.Step) bool
	before func(*replay.Step)
	after  func(*replay.Step)
	// again says which self-issued steps a resumed replay may run again: the tasks
	// (replay.Options.Again).
	again func(*replay.Step) bool
	// plan is the replay's plan, set once loaded (handlers read the archived invocations).
	plan *replay.Plan
	// done holds the tasks the original runner finished done (their last archived
	// /task/finish), set with plan (setPlan).
	done    map[cid.Cid]bool
	closers []func()
}

func (r *replayService) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

// sync makes the rebuilt store durable: a bolt file is written without fsyncs during a
// replay (a replay killed by a power loss is started again in an empty folder). Pebble and
// PostgreSQL commit durably.
func (r *replayService) sync() error {
	if s, ok := r.kv.(*bolt.Store); ok {
		f, err := os.Open(s.Path())
		if err != nil {
			return fmt.Errorf("syncing the rebuilt store: %w", err)
		}
		defer f.Close()
		if err := f.Sync(); err != nil {
			return fmt.Errorf("syncing the rebuilt store: %w", err)
		}
	}
	return nil
}

// rebuiltHook, when a test sets it, wraps the store a replay writes (TestReplayKilled
// refuses its commits after the n-th).
var rebuiltHook func(kv.Store) kv.Store

// openRebuilt opens the store a replay writes: pebble or bolt in c.data, or PostgreSQL.
// Pebble and PostgreSQL are opened as serve opens them (openKV): pebble syncs every
// commit, its pipeline overlapping each fsync with the next batch, which costs a replay a
// few per cent, and every step a replay has done survives a SIGKILL or a power loss. Bolt is written without an fsync per commit (one costs it a
// whole commit's time; a SIGKILL loses nothing it committed) and synced at the end.
func openRebuilt(ctx context.Context, c serveConfig) (kv.Store, error) {
	if c.kv == "pebble" || c.kv == "bolt" {
		if err := os.MkdirAll(c.data, 0o700); err != nil {
			return nil, fmt.Errorf("creating --data: %w", err)
		}
	}
	if c.kv == "bolt" {
		s, err := bolt.Open(filepath.Join(c.data, boltFile), bolt.Options{NoSync: true})
		if err != nil {
			return nil, fmt.Errorf("opening the rebuilt store: %w", err)
		}
		return s, nil
	}
	return openKV(ctx, c, slog.New(slog.DiscardHandler))
}

// openLive opens the kv store of a live service's data folder (kvURL: its postgres:// URL
// instead).
func openLive(ctx context.Context, data, kvURL string) (kv.Store, error) {
	c := serveConfig{data: data, kv: kvURL}
	var err error
	if c.kv, c.postgresURL, err = resolveKV(c); err != nil {
		return nil, err
	}
	return openKV(ctx, c, slog.New(slog.DiscardHandler))
}

// pendingExpiry returns the expires of a receipt whose state is a pending store entry.
func pendingExpiry(r *receipts.Receipt) (int64, bool) {
	if status(r) != store.StatusPending || !strings.Contains(r.Path, "/"+store.Name+"/") {
		return 0, false
	}
	exp, err := r.Out.Ok.LookupByString("expires")
	if err != nil {
		return 0, false
	}
	ms, err := exp.AsInt()
	return ms, err == nil
}

// archivedSchema loads the schema the archived service ran with: the extensions of the
// last schema set it recorded (archive.SchemaSets; the first source of a set is the system
// schema, which this build embeds). No set: the system schema alone.
func archivedSchema(ctx context.Context, archived blob.Store) (*schema.Schema, error) {
	arch := archive.New(archived, archive.Options{})
	sets, err := arch.SchemaSets(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the archived schema sets: %w", err)
	}
	if len(sets) == 0 {
		return schema.LoadSources()
	}
	set := sets[len(sets)-1]
	var srcs []schema.Source
	for i, src := range set.Sources {
		if i == 0 {
			continue // the system schema
		}
		text, err := arch.Schema(ctx, src.CID)
		if err != nil {
			return nil, fmt.Errorf("reading the archived schema source %s (%s): %w", src.Name, src.CID, err)
		}
		srcs = append(srcs, schema.Source{Name: src.Name, Text: text})
	}
	sch, err := schema.LoadSources(srcs...)
	if err != nil {
		return nil, fmt.Errorf("loading the archived schema: %w", err)
	}
	return sch, nil
}

// transitionHandler replays a self-issued invocation that ran event on the entry its
// "path" argument names, with its args as the event's data (as store.Blobs runs a
// rejection), and returns its receipt's CID.
func transitionHandler(e *dag.Engine, event string) replay.Handler {
	return func(ctx context.Context, st *replay.Step) (cid.Cid, error) {
		tok := st.Inv
		p, err := task.PathOf(tok.Invocation.Args)
		if err != nil {
			return cid.Undef, err
		}
		res, err := e.Transition(ctx, tok, p, event, tok.Invocation.Args)
		if err != nil {
			return cid.Undef, err
		}
		return res.Receipt.CID, nil
	}
}

// reportHandler replays the recording of a broker's report (aggregate.Report): the
// invocation's args are {path, deal} or {path, reason}, and it ran the deal or failed
// event with them — or, when the report came before the offer task recorded the broker's
// acknowledgement, the first of the two report invocations moved the ready aggregate to
// deal_pending (EventOffered, no data): its archived receipt says so.
func reportHandler(e *dag.Engine) replay.Handler {
	return func(ctx context.Context, st *replay.Step) (cid.Cid, error) {
		tok := st.Inv
		p, err := task.PathOf(tok.Invocation.Args)
		if err != nil {
			return cid.Undef, err
		}
		event, data := aggregate.EventFailed, tok.Invocation.Args
		if _, err := tok.Invocation.Args.LookupByString("deal"); err == nil {
			event = aggregate.EventDeal
		}
		if status(st.Archived) == aggregate.StatusDealPending {
			event, data = aggregate.EventOffered, nil
		}
		res, err := e.Transition(ctx, tok, p, event, data)
		if err != nil {
			return cid.Undef, err
		}
		return res.Receipt.CID, nil
	}
}

// status is the status of a receipt's state ("" for none or an error).
func status(r *receipts.Receipt) string {
	if r == nil || r.Out.Ok == nil {
		return ""
	}
	v, err := r.Out.Ok.LookupByString(dag.StatusKey)
	if err != nil {
		return ""
	}
	s, _ := v.AsString()
	return s
}

// offeredHandler is the offer task's handler of a replay: the original POSTed the offer
// and, the broker having acknowledged it (the only offer task with an archived reply),
// moved the aggregate at the task's path ready → deal_pending (aggregate.EventOffered
// under the task's invocation). That transition runs again; nothing is POSTed.
func offeredHandler(e *dag.Engine) task.Handler {
	return func(ctx context.Context, inv *ucan.Token) error {
		p, err := task.PathOf(inv.Invocation.Args)
		if err != nil {
			return task.Permanent(err)
		}
		res, err := e.Transition(ctx, inv, p, aggregate.EventOffered, nil)
		if err != nil {
			return err
		}
		return res.Err
	}
}

// deliverHandler replays a delivery (store.Blobs.Deliver: the uploaded bytes of a CAR
// moved a pending entry to done). The original indexed the CAR's blocks in the done
// transaction from the scan of the upload, unless its receipt's fx lists a
// /blockindex/build task (nothing was staged: the index is built by that task): the CAR
// is scanned again from blob storage (carpark) and staged in index, as the upload did.
// The piece the upload computed is in the args of the /piece/compute task the done
// receipt's fx lists (piece.QueueKnown): it is staged in pieces as the upload staged it.
func (r *replayService) deliverHandler(blobs blob.Store, index *blockindex.Index, pieces *piece.Staged) replay.Handler {
	run := transitionHandler(r.engine, store.EventDelivered)
	return func(ctx context.Context, st *replay.Step) (cid.Cid, error) {
		if st.Archived != nil && st.Archived.Out.Ok != nil {
			staged, err := r.stagePiece(st, pieces)
			if err != nil {
				return cid.Undef, err
			}
			// Staged for this delivery only: a later done of the CAR finds what its
			// original found (its own delivery stages it again).
			for _, c := range staged {
				defer pieces.Drop(c)
			}
		}
		if st.Archived != nil && st.Archived.Out.Ok != nil && !r.builds(st.Archived) {
			link, err := nodefield.Link(st.Inv.Invocation.Args, "link")
			if err != nil {
				return cid.Undef, fmt.Errorf("replaying delivery %s: %w", st.Inv.CID, err)
			}
			key := carwhere.BlobKey(link)
			rc, _, err := blobs.Get(ctx, key, nil)
			if err != nil {
				return cid.Undef, fmt.Errorf("replaying delivery %s: reading %s to index its blocks: %w", st.Inv.CID, key, err)
			}
			res, err := carscan.Scan(rc)
			rc.Close()
			if err != nil {
				return cid.Undef, fmt.Errorf("replaying delivery %s: scanning %s: %w", st.Inv.CID, key, err)
			}
			index.Stage(link, res)
		}
		return run(ctx, st)
	}
}

// stagePiece stages the piece a delivery's compute task carries (its args {content,
// size, piece, md5?}, piece.QueueKnown), if the done receipt's fx list such a task, and
// returns the CARs it staged.
func (r *replayService) stagePiece(st *replay.Step, pieces *piece.Staged) ([]cid.Cid, error) {
	var staged []cid.Cid
	for _, fx := range st.Archived.Fx {
		inv := r.plan.Self[fx]
		if inv == nil || inv.Invocation.Command != piece.ComputeCommand {
			continue
		}
		content, k, err := piece.TaskKnown(inv.Invocation.Args)
		if err != nil {
			return nil, fmt.Errorf("replaying delivery %s: the compute task %s: %w", st.Inv.CID, fx, err)
		}
		if k != nil { // nil: computed by the task, not by the upload
			pieces.Stage(content, *k)
			staged = append(staged, content)
		}
	}
	return staged, nil
}

// builds reports whether the fx of r list a /blockindex/build task.
func (r *replayService) builds(rc *receipts.Receipt) bool {
	for _, fx := range rc.Fx {
		if inv := r.plan.Self[fx]; inv != nil && inv.Invocation.Command == store.BuildCommand {
			return true
		}
	}
	return false
}

// errTaskDiverged is a replayed task whose handler failed although the original runner
// finished the task done: the rebuilt store is not the original's.
var errTaskDiverged = errors.New("the task failed when run again, though the original runner finished it done")

// setPlan keeps the replay's plan for the handlers, and which tasks the original runner
// last finished done.
func (r *replayService) setPlan(plan *replay.Plan) {
	r.plan = plan
	r.done = map[cid.Cid]bool{}
	service := r.engine.Service()
	for i := range plan.Steps {
		if t, status, ok := task.Finished(plan.Steps[i].Inv, service); ok {
			r.done[t] = status == task.StatusDone
		}
	}
}

// taskHandler replays a task the runner ran (h, the task's handler, with the task's
// archived invocation): h runs again on the rebuilt store at the time of the archived
// reply (a task that wrote in several transactions — an aggregate's include, dealt or
// requeue — is paced by replay.Run: each transaction at its place and time), and the
// receipt is the archived one when the rebuilt store holds it (the same bytes were signed
// again), or else the task's result. A run that fails although the original runner
// finished the task done is an error (errTaskDiverged), even when the store holds the
// archived receipt: what the task wrote after it may be missing.
func (r *replayService) taskHandler(h task.Handler) replay.Handler {
	e := r.engine
	return func(ctx context.Context, st *replay.Step) (cid.Cid, error) {
		herr := h(ctx, st.Inv)
		if herr != nil && r.done[st.Inv.CID] {
			return cid.Undef, fmt.Errorf("%w: %s: %w", errTaskDiverged, st.Inv.Invocation.Command, herr)
		}
		if st.Receipt.Defined() {
			if _, err := e.Receipt(ctx, st.Receipt); err == nil {
				return st.Receipt, nil
			}
		}
		t, err := st.Inv.Invocation.Task()
		if err != nil {
			return cid.Undef, err
		}
		got, err := e.TaskResult(ctx, t)
		if err != nil {
			return cid.Undef, fmt.Errorf("running %s again gave no receipt: %w", st.Inv.Invocation.Command, errors.Join(herr, err))
		}
		return got, nil
	}
}

// openReplay builds the service of configuration c over the store a replay rebuilds, with
// the original service key (keyFile) and a clock the replay sets. No task runner, archive
// or server runs.
func openReplay(ctx context.Context, c serveConfig, keyFile string, archived blob.Store) (*replayService, error) {
	signer, err := did.ReadKeyFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading the original service key (--key): %w", err)
	}
	var sch *schema.Schema
	if len(c.schemas) > 0 {
		sch, err = loadSchema(c.schemas)
	} else {
		sch, err = archivedSchema(ctx, archived)
	}
	if err != nil {
		return nil, err
	}
	if c.blob == "fs" {
		if _, err := os.Stat(filepath.Join(c.data, blobSecretFile)); err != nil {
			return nil, fmt.Errorf("the rebuilt folder needs the original service's %s (upload URLs are signed with it): %w", blobSecretFile, err)
		}
	}
	rs := &replayService{clock: &replayClock{}}
	ok := false
	defer func() {
		if !ok {
			rs.close()
		}
	}()
	if rs.kv, err = openRebuilt(ctx, c); err != nil {
		return nil, err
	}
	if rebuiltHook != nil {
		rs.kv = rebuiltHook(rs.kv)
	}
	rs.closers = append(rs.closers, func() { rs.kv.Close() })
	log := slog.New(slog.DiscardHandler)
	blobs, err := openBlobs(ctx, c, c.publicURL, log)
	if err != nil {
		return nil, err
	}
	if cl, ok := blobs.(io.Closer); ok {
		rs.closers = append(rs.closers, func() { cl.Close() })
	}
	past, err := newPastBlobs(blobs)
	if err != nil {
		return nil, err
	}
	// Upload URLs expire a TTL after the time the put was prepared, rounded down to the
	// second, a few milliseconds before the put committed: rs.alone runs each put that
	// was pending alone, with that time taken from its archived state.
	index, pieces := blockindex.New(), piece.NewStaged(false)
	storeMachine, aggMachine, registered, err := collections(c, c.publicURL, past.store(), log, func(o *store.Options) {
		o.Index, o.Pieces = index, pieces
		o.Clock = func() time.Time {
			if ms := rs.prepared.Swap(0); ms != 0 {
				return time.UnixMilli(ms) // set by rs.before for this put
			}
			return rs.clock.Now()
		}
	})
	if err != nil {
		return nil, err
	}
	// The archive holds the service's own invocations already (IndexOnly), and metrics
	// receipts are made from the archived /metrics/add invocations, at their place,
	// instead of by the batches' finishers (a replay's batches are not the original's).
	rs.engine, err = dag.Open(ctx, dag.Options{KV: rs.kv, Collections: registered, Signer: signer, Schema: sch, Logger: log.With("component", "dag"),
		Clock: rs.clock.Now, Archive: replay.IndexOnly{}, NoFinish: true})
	if err != nil {
		return nil, fmt.Errorf("opening the engine: %w", err)
	}
	rs.closers = append(rs.closers, func() { rs.engine.Close() })
	opsOpts := ops.Options{
		Engine:            rs.engine,
		Signer:            signer,
		Validator:         ucan.NewValidator(ucan.ValidatorOptions{Now: rs.clock.Now}),
		Clock:             rs.clock.Now,
		Logger:            log.With("component", "ops"),
		MessageWork:       c.messageWork,
		MessageProofs:     c.messageProofs,
		SelectPageBytes:   c.selectPageBytes,
		MessageReplyBytes: c.messageReplyBytes,
	}
	if c.publicReads {
		opsOpts.PublicRead = rs.engine.PublicRead
	}
	if rs.ops, err = ops.New(opsOpts); err != nil {
		return nil, err
	}
	rs.alone = func(st *replay.Step) bool {
		_, ok := pendingExpiry(st.Archived)
		return ok
	}
	ttl := c.uploadTTL
	rs.before = func(st *replay.Step) {
		if ms, ok := pendingExpiry(st.Archived); ok {
			rs.prepared.Store(ms - ttl.Milliseconds())
			// The original found no bytes: those uploaded later are not there yet.
			past.hide.Store(true)
		}
	}
	rs.after = func(*replay.Step) { past.hide.Store(false) }
	service := signer.DID()
	rs.place = map[string]replay.Placer{metrics.Command: func(tok *ucan.Token) (uint64, int64, error) {
		inv, err := metrics.ParseInvocation(tok, service)
		if err != nil {
			return 0, 0, err
		}
		return inv.Seq, inv.TS, nil
	}}
	rs.handlers = map[string]replay.Handler{
		metrics.Command: func(ctx context.Context, st *replay.Step) (cid.Cid, error) {
			return cid.Undef, rs.engine.Update(ctx, func(tx *dag.Tx) error { return metrics.Apply(tx, st.Inv) })
		},
		// The upload endpoint's rejection of bytes that are not a CAR: the transition
		// it ran, with the invocation's args (path, reason).
		store.RejectCommand: transitionHandler(rs.engine, store.EventRejected),
		// Its delivery of bytes that are: the transition, with the blocks indexed.
		store.DeliverCommand: rs.deliverHandler(blobs, index, pieces),
	}
	// The task runner's claims, renewals and outcomes, each written as it was.
	for _, cmd := range []string{task.ClaimCommand, task.RenewCommand, task.FinishCommand} {
		rs.handlers[cmd] = func(ctx context.Context, st *replay.Step) (cid.Cid, error) {
			var got cid.Cid
			err := rs.engine.Update(ctx, func(tx *dag.Tx) error {
				var err error
				got, err = task.Apply(tx, st.Inv)
				return err
			})
			return got, err
		}
	}
	// The broker's side of the deal path: a start's resumption of offers
	// (Machine.ResumeOffers) and the reports the broker POSTed (aggregate.Report), each
	// the transition its self-issued invocation ran.
	rs.handlers[aggregate.ResumeCommand] = transitionHandler(rs.engine, aggregate.EventResume)
	rs.handlers[aggregate.ReportCommand] = reportHandler(rs.engine)
	// The tasks the runner ran, by the handlers serve runs them with (the piece machine
	// reads the CARs from the original's blob storage). An offer is not POSTed again:
	// an offer task with an archived reply was acknowledged by the broker, and runs
	// again as what the acknowledgement did (offeredHandler).
	handlers := storeMachine.Handlers(rs.engine)
	maps.Copy(handlers, piece.HandlersWith(rs.engine, blobs, piece.ComputeOptions{Logger: log.With("component", "piece"), NoMD5: c.broker == ""}))
	maps.Copy(handlers, aggMachine.Handlers(rs.engine, log.With("component", "aggregate")))
	handlers[aggregate.OfferCommand] = offeredHandler(rs.engine)
	tasks := map[string]bool{}
	for cmd, h := range handlers {
		rs.handlers[cmd] = rs.taskHandler(h)
		tasks[cmd] = true
	}
	// A task's handler may run again (the runner runs each task at least once): a
	// resumed replay runs again the task whose last write is the rebuilt store's last,
	// for what it wrote after that write without a sequence.
	rs.again = func(st *replay.Step) bool { return tasks[st.Inv.Invocation.Command] }
	ok = true
	return rs, nil
}
