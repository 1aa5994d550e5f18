package main

// serve.go is the composition root of the service: `w3dag serve` opens the stores, builds
// the engine, ops, archive and HTTP server, and wires them together by hand.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/blob"
	blobfs "github.com/w3dag/w3dag/blob/fs"
	"github.com/w3dag/w3dag/blob/s3"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/bolt"
	"github.com/w3dag/w3dag/kv/postgres"
	"github.com/w3dag/w3dag/machines/carwhere"
	storemachine "github.com/w3dag/w3dag/machines/store"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/server"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// Files in the data folder.
const (
	serviceKeyFile = "service.key" // the service's Ed25519 key, mode 0600
	blobSecretFile = "blob.secret" // HMAC secret of fs upload URLs, mode 0600
	boltFile       = "w3dag.db"
	blobsDir       = "blobs"
	// blobSecretSize is the length of a generated upload-URL secret, in bytes.
	blobSecretSize = 32
	// defaultWatchPollShared is how often watchers read the commit log when the kv store
	// is shared with other processes (postgres) and --watch-poll is not given.
	defaultWatchPollShared = time.Second
)

// serveConfig holds the flags of `w3dag serve`; each has a W3DAG_* environment twin.
type serveConfig struct {
	data        string
	listen      string
	publicURL   string
	kv          string
	postgresURL string
	pgSchema    string
	blob        string
	s3URL       string
	schemas     schemaFiles
	maxBatch    int
	batchDelay  time.Duration
	watchPoll   time.Duration
	outbox      bool
	maxBlobSize int64
	uploadTTL   time.Duration
	claimTTL    time.Duration
	logLevel    string
	logFormat   string
	shutdown    time.Duration
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("w3dag serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c serveConfig
	fs.StringVar(&c.data, "data", "./w3dag-data", "data folder: service key, embedded kv and blobs")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&c.publicURL, "public-url", "", "URL clients reach the service at (default derived from --listen)")
	fs.StringVar(&c.kv, "kv", "bolt", "kv backend: bolt (in the data folder) or postgres")
	fs.StringVar(&c.postgresURL, "postgres-url", "", "PostgreSQL connection URL (with --kv postgres)")
	fs.StringVar(&c.pgSchema, "postgres-schema", "", "PostgreSQL schema holding the tables (default public)")
	fs.StringVar(&c.blob, "blob", "fs", "blob backend: fs (in the data folder) or s3")
	fs.StringVar(&c.s3URL, "s3-url", "", "S3 bucket as http[s]://KEY:SECRET@HOST[:PORT]/BUCKET[/PREFIX]?region=R[&virtual=1] (with --blob s3)")
	fs.Var(&c.schemas, "schema", "IPLD schema extension file adding collections to spaces (repeatable; comma-separated in W3DAG_SCHEMA)")
	fs.IntVar(&c.maxBatch, "max-batch", 0, "most operations in one group commit (default the engine's)")
	fs.DurationVar(&c.batchDelay, "batch-delay", 0, "how long a group commit waits for more operations (default 0: commit when idle)")
	fs.DurationVar(&c.watchPoll, "watch-poll", 0, "how often watchers read the commit log for other processes' commits (default 0 with bolt, 1s with postgres)")
	fs.BoolVar(&c.outbox, "archive-outbox", true, "archive messages through a kv outbox (group-committed, moved to blob storage in the background) instead of one blob write per message")
	fs.Int64Var(&c.maxBlobSize, "max-blob-size", storemachine.MaxBlobSize, "largest CAR a store put accepts, in bytes (larger: TooLarge)")
	fs.DurationVar(&c.uploadTTL, "upload-url-ttl", storemachine.DefaultUploadURLTTL, "how long upload URLs handed out for pending store entries are valid")
	fs.DurationVar(&c.claimTTL, "claim-ttl", carwhere.DefaultClaimTTL, "how long the location claims of GET /claims/{cid} are valid")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "json", "log format: json or text")
	fs.DurationVar(&c.shutdown, "shutdown-timeout", server.DefaultShutdownTimeout, "how long shutdown waits for in-flight requests")
	pos, code, ok := parseArgs(fs, args, 0, manyArgs)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(stderr, "serve", "unexpected arguments %q", pos)
	}
	switch {
	case c.maxBlobSize <= 0 || c.maxBlobSize > server.MaxBlobSize:
		return usageError(stderr, "serve", "--max-blob-size %d: want a positive number of bytes up to %d (the largest PUT /blob accepts)", c.maxBlobSize, server.MaxBlobSize)
	case c.uploadTTL <= 0:
		return usageError(stderr, "serve", "--upload-url-ttl %s: want a positive duration", c.uploadTTL)
	case c.claimTTL <= 0:
		return usageError(stderr, "serve", "--claim-ttl %s: want a positive duration", c.claimTTL)
	}
	log, err := newLogger(stderr, c.logLevel, c.logFormat)
	if err != nil {
		return usageError(stderr, "serve", "%v", err)
	}
	if err := serve(ctx, c, stdout, log); err != nil {
		log.Error("w3dag serve stopped", "error", err)
		return fail(stderr, "serve", err)
	}
	return 0
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want json or text", format)
}

// serve runs the service until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, c serveConfig, stdout io.Writer, log *slog.Logger) error {
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return fmt.Errorf("creating data folder: %w", err)
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

	store, err := openKV(ctx, c, log)
	if err != nil {
		return err
	}
	defer store.Close()
	blobs, err := openBlobs(ctx, c, publicURL, log)
	if err != nil {
		return err
	}
	if cl, ok := blobs.(io.Closer); ok {
		defer cl.Close()
	}
	watchPoll := c.watchPoll
	if watchPoll == 0 && c.kv == "postgres" {
		watchPoll = defaultWatchPollShared
	}
	storeMachine, machs, err := machines(c, publicURL, blobs, log)
	if err != nil {
		return err
	}
	engine, err := dag.Open(ctx, dag.Options{
		KV:            store,
		Machines:      machs,
		Signer:        signer,
		Schema:        sch,
		Logger:        log.With("component", "dag"),
		MaxBatch:      c.maxBatch,
		MaxBatchDelay: c.batchDelay,
		WatchPoll:     watchPoll,
	})
	if err != nil {
		return fmt.Errorf("opening the engine: %w", err)
	}
	defer engine.Close()
	defer runTasks(ctx, engine, storeMachine, log)()
	endpoint, err := newBlobEndpoint(engine, blobs, signer, c.claimTTL, log)
	if err != nil {
		return err
	}
	reg := metricsRegistry(engine)
	runner, err := ops.New(ops.Options{
		Engine:    engine,
		Signer:    signer,
		Validator: ucan.NewValidator(ucan.ValidatorOptions{}),
		Logger:    log.With("component", "ops"),
	})
	if err != nil {
		return err
	}
	archOpts := archive.Options{Logger: log.With("component", "archive")}
	if c.outbox {
		// Messages go into the engine's group commit, sharing transactions (and fsyncs)
		// with the operations.
		archOpts.Outbox = store
		archOpts.Commit = func(ctx context.Context, fn func(kv.Tx) error) error {
			return engine.Update(ctx, func(t *dag.Tx) error { return fn(t.KV()) })
		}
	}
	arch := archive.New(blobs, archOpts)
	defer arch.Close()
	moveCtx, stopMoving := context.WithCancel(context.WithoutCancel(ctx))
	moved := make(chan error, 1)
	go func() { moved <- arch.Run(moveCtx) }()
	defer func() {
		stopMoving()
		<-moved
	}()
	cols, srcs, err := schemaInfo(sch)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Options{
		Service:         signer,
		PublicURL:       publicURL,
		Runner:          runner,
		Store:           engine,
		Archive:         arch,
		Blobs:           endpoint,
		Claims:          endpoint,
		Registerer:      reg,
		Gatherer:        reg,
		Logger:          log.With("component", "server"),
		ShutdownTimeout: c.shutdown,
		Collections:     cols,
		SchemaSources:   srcs,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "w3dag serving %s\nservice DID %s\nlistening on http://%s\n", publicURL, signer.DID(), ln.Addr())
	log.Info("serving", "url", publicURL, "listen", ln.Addr().String(), "did", signer.DID(), "kv", c.kv, "blob", c.blob, "data", c.data)
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	log.Info("shut down cleanly")
	return nil
}

// schemaFiles is the repeatable --schema flag; each value may list files separated by
// commas (as W3DAG_SCHEMA does).
type schemaFiles []string

func (s *schemaFiles) String() string { return strings.Join(*s, ",") }

func (s *schemaFiles) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*s = append(*s, f)
		}
	}
	return nil
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

func openKV(ctx context.Context, c serveConfig, log *slog.Logger) (kv.Store, error) {
	switch c.kv {
	case "bolt":
		s, err := bolt.Open(filepath.Join(c.data, boltFile), bolt.Options{})
		if err != nil {
			return nil, fmt.Errorf("opening bolt store: %w", err)
		}
		return s, nil
	case "postgres":
		if c.postgresURL == "" {
			return nil, errors.New("--kv postgres needs --postgres-url (W3DAG_POSTGRES_URL)")
		}
		s, err := postgres.Open(ctx, c.postgresURL, postgres.Options{Schema: c.pgSchema, Logger: log.With("component", "postgres")})
		if err != nil {
			return nil, fmt.Errorf("opening postgres store: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("--kv %q: want bolt or postgres", c.kv)
}

func openBlobs(ctx context.Context, c serveConfig, publicURL string, log *slog.Logger) (blob.Store, error) {
	switch c.blob {
	case "fs":
		secret, err := loadSecret(filepath.Join(c.data, blobSecretFile))
		if err != nil {
			return nil, err
		}
		s, err := blobfs.Open(filepath.Join(c.data, blobsDir), blobfs.Options{
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

// loadSecret reads the upload-URL secret, creating it (mode 0600) on first start.
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
		return nil, fmt.Errorf("reading blob secret: %w", err)
	}
	secret := make([]byte, blobSecretSize)
	rand.Read(secret)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("writing blob secret: %w", err)
	}
	_, werr := fmt.Fprintln(f, hex.EncodeToString(secret))
	serr := f.Sync()
	if cerr := f.Close(); werr == nil && serr == nil {
		werr = cerr
	}
	if werr != nil || serr != nil {
		return nil, fmt.Errorf("writing blob secret: %w", errors.Join(werr, serr))
	}
	return secret, nil
}
