package main

// serve.go: the flags of `w3dag serve` (serveConfig) and the logger; wire.go puts the
// service together from them.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/w3dag/w3dag/archive/logs"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/store"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/server"
)

// Files in the data folder.
const (
	serviceKeyFile = "service.key" // the service's Ed25519 key, mode 0600
	blobSecretFile = "blob.secret" // HMAC secret of fs upload URLs, mode 0600
	// brokerSecretFile is the HMAC secret of broker report URLs (docs/broker.md), mode
	// 0600, unless --broker-secret-file names another file.
	brokerSecretFile = "broker.secret"

	// uploadPieceMinCPUs is how many CPUs (GOMAXPROCS: those the process may run on, as
	// piece.ComputeWorkers counts them) make --upload-piece default to on. The upload
	// pass already hashes sha2-256 on one core; commP there takes about another (it runs
	// at ~44% of sha2-256's speed), so with fewer cores it slows the upload endpoint to
	// commP's speed (issue 5's target: uploads at ≥ 60% of sha2-256; docs/PERFORMANCE.md).
	uploadPieceMinCPUs = 4
	boltFile           = "w3dag.db"     // the bolt kv store (--kv bolt)
	pebbleDir          = "w3dag.pebble" // the pebble kv store (--kv pebble, the default for new folders)
	blobsDir           = "blobs"
	// blobSecretSize is the length of a generated upload-URL secret, in bytes.
	blobSecretSize = 32
	// defaultWatchPollShared is how often watchers read the commit log when the kv store
	// is shared with other processes (postgres) and --watch-poll is not given.
	defaultWatchPollShared = time.Second
	// tempSweepInterval is how often the fs blob backend's temporary upload files older
	// than --upload-url-ttl are removed (at most the TTL; also once at start).
	tempSweepInterval = 10 * time.Minute
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
	// noArchiveSelf (--archive-self=false) keeps the service's own invocations as
	// blocks only; zero archives them.
	noArchiveSelf bool
	publicReads   bool
	noGateway     bool // --gateway=false
	// logs is --logs: "" (not given: on with --blob fs), "true" or "false".
	logs         string
	logsInterval time.Duration
	gwSpaces     string
	maxBlobSize  int64
	uploadTTL    time.Duration
	claimTTL     time.Duration
	aggMin       byteSize
	aggMax       byteSize
	broker       string
	brokerSecret string
	// uploadPiece computes each uploaded CAR's piece in the upload pass (flag
	// --upload-piece); false leaves it to the piece's compute task, which reads the CAR.
	uploadPiece bool
	logLevel    string
	logFormat   string
	shutdown    time.Duration
	taskLease   time.Duration
	// blobsFolder is the folder of fs blobs; "" is blobs in the data folder (a replay
	// reads the original's, which its carwhere locations name).
	blobsFolder string

	// messageWork and messageProofs: the work budget of one message (ops.Budget).
	messageWork, messageProofs int
	// selectPageBytes and messageReplyBytes: byte budgets of select pages and replies.
	selectPageBytes, messageReplyBytes int
	replyBytesInFlight                 int64
	// Connection limits (docs/SECURITY.md): zero means the server's default.
	minBodyRate         int64
	maxBodyBytes        int
	maxInFlight         int
	maxUploads          int
	pprof               string // --pprof address, empty: off
	maxWatchers         int
	maxWatchersPerSpace int
	watchWriteTimeout   time.Duration
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("w3dag serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c serveConfig
	fs.StringVar(&c.data, "data", "./w3dag-data", "data folder: service key, embedded kv and blobs")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&c.publicURL, "public-url", "", "URL clients reach the service at (default derived from --listen)")
	fs.StringVar(&c.kv, "kv", "", "kv backend: pebble or bolt (in the data folder), postgres (with --postgres-url) or a postgres:// URL (default: what the data folder holds, pebble for a new one)")
	fs.StringVar(&c.postgresURL, "postgres-url", "", "PostgreSQL connection URL (with --kv postgres)")
	fs.StringVar(&c.pgSchema, "postgres-schema", "", "PostgreSQL schema holding the tables (default public)")
	fs.StringVar(&c.blob, "blob", "fs", "blob backend: fs (in the data folder) or s3")
	fs.StringVar(&c.s3URL, "s3-url", "", "S3 bucket as http[s]://KEY:SECRET@HOST[:PORT]/BUCKET[/PREFIX]?region=R[&virtual=1] (with --blob s3)")
	fs.Var(&c.schemas, "schema", "IPLD schema extension file adding collections to spaces (repeatable; comma-separated in W3DAG_SCHEMA)")
	fs.IntVar(&c.maxBatch, "max-batch", 0, "most operations in one group commit (default the engine's)")
	fs.DurationVar(&c.batchDelay, "batch-delay", 0, "how long a group commit waits for more operations (default 0: commit when idle)")
	fs.DurationVar(&c.watchPoll, "watch-poll", 0, "how often watchers read the commit log for other processes' commits (default 0 with pebble or bolt, 1s with postgres)")
	fs.BoolVar(&c.outbox, "archive-outbox", true, "archive messages through a kv outbox (group-committed, moved to blob storage in the background) instead of one blob write per message")
	fs.BoolFunc("archive-self", "archive the service's own invocations (delivery, expiry, usage records, tasks, metrics) as agent messages in the transactions that make them (default true; false keeps them as blocks only, so that w3dag replay cannot rebuild what they did: for measuring what archiving costs)", func(v string) error {
		on, err := strconv.ParseBool(v)
		c.noArchiveSelf = !on
		return err
	})
	fs.BoolVar(&c.publicReads, "public-service-reads", true, "let any signed invocation read the service's public collections (carwhere, piece, aggregate, metrics) without a delegation from the service")
	fs.BoolFunc("gateway", "serve stored content by CID at GET|HEAD /ipfs/{cid}[/path], trustless and deserialized (default true; --gateway=false turns it off)", func(v string) error {
		on, err := strconv.ParseBool(v)
		c.noGateway = !on
		return err
	})
	fs.BoolFunc("logs", "export the commit log as JSON logs to blob storage under logs/ (docs/logs.md) while serving (default true with --blob fs, false with s3)", func(v string) error {
		on, err := strconv.ParseBool(v)
		c.logs = strconv.FormatBool(on)
		return err
	})
	fs.DurationVar(&c.logsInterval, "logs-interval", logs.DefaultInterval, "how often the JSON log exporter (--logs) looks for new commits")
	fs.StringVar(&c.gwSpaces, "gateway-spaces", "", "comma-separated space DIDs: the gateway serves only blocks of CARs one of them holds (default: every stored CAR)")
	fs.Int64Var(&c.maxBlobSize, "max-blob-size", store.MaxBlobSize, "largest CAR a store put accepts, in bytes (larger: TooLarge)")
	fs.DurationVar(&c.uploadTTL, "upload-url-ttl", store.DefaultUploadURLTTL, "how long upload URLs handed out for pending store entries are valid")
	fs.DurationVar(&c.claimTTL, "claim-ttl", carwhere.DefaultClaimTTL, "how long the location claims of GET /claims/{cid} are valid")
	c.aggMin, c.aggMax = aggregate.DefaultMin, aggregate.DefaultMax
	fs.Var(&c.aggMin, "aggregate-min", "payload (unpadded bytes; suffixes KiB, MiB, GiB, TiB) at which a Filecoin aggregate is ready (default Spade's 1+127·2^27)")
	fs.Var(&c.aggMax, "aggregate-max", "payload (unpadded bytes; suffixes KiB, MiB, GiB, TiB) no Filecoin aggregate exceeds (default Spade's 127·2^28, a 32 GiB deal)")
	fs.StringVar(&c.broker, "broker", "", "URL of the deal broker ready aggregates are offered to (docs/broker.md); empty: no offers, aggregates stay ready")
	fs.BoolVar(&c.uploadPiece, "upload-piece", runtime.GOMAXPROCS(0) >= uploadPieceMinCPUs,
		fmt.Sprintf("compute each uploaded CAR's Filecoin piece (commP) while receiving it, so its compute task does not read the CAR back; costs upload throughput when cores are few (default: on with GOMAXPROCS %d or more)", uploadPieceMinCPUs))
	fs.StringVar(&c.brokerSecret, "broker-secret-file", "", "file holding the hex HMAC secret of broker report URLs (default broker.secret in the data folder, created on first start)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "json", "log format: json or text")
	fs.DurationVar(&c.taskLease, "task-lease", task.DefaultLease, "how long a node's claim on a background task (expiry, piece, aggregate, offer) lasts without renewal; when a node dies, another takes its tasks over after this")
	fs.IntVar(&c.messageWork, "message-work", ops.DefaultMessageWork, "steps one message may spend on its invocations' args and policies, all together (more: BudgetExceeded naming message-work)")
	fs.IntVar(&c.selectPageBytes, "select-page-bytes", dag.DefaultSelectPageBytes, "bytes of entries a select page holds before it ends (full, with a cursor), whatever its limit")
	fs.IntVar(&c.messageReplyBytes, "message-reply-bytes", ops.DefaultMessageReplyBytes, "select page bytes one reply may carry, all its selects together (more: BudgetExceeded naming message-reply-bytes)")
	fs.Int64Var(&c.replyBytesInFlight, "reply-bytes-in-flight", server.DefaultReplyBytesInFlight, "select page bytes all POST /ucan replies being run or written may hold together; a message reserves its selects' bytes before running and waits while others hold them")
	fs.IntVar(&c.messageProofs, "message-proofs", ops.DefaultMessageProofs, "proofs the invocations of one message may name, all together (more: BudgetExceeded naming message-proofs)")
	fs.StringVar(&c.pprof, "pprof", "", "address to serve net/http/pprof profiles on, e.g. 127.0.0.1:6060 (default off; never expose it publicly)")
	fs.DurationVar(&c.shutdown, "shutdown-timeout", server.DefaultShutdownTimeout, "how long shutdown waits for in-flight requests")
	fs.Int64Var(&c.minBodyRate, "min-body-rate", server.DefaultMinBodyRate, "slowest average rate, in bytes per second, of POST /ucan and PUT /blob bodies after a 5 s grace (slower: 408)")
	fs.IntVar(&c.maxBodyBytes, "max-body-bytes", server.MaxMessageSize, "largest POST /ucan body, in bytes (at most the default; larger: 413)")
	fs.IntVar(&c.maxInFlight, "max-in-flight", server.DefaultMaxInFlight, "POST /ucan requests decoded and run at once (bodies are read before taking a turn)")
	fs.IntVar(&c.maxUploads, "max-uploads", server.DefaultMaxUploads, "PUT /blob bodies received at once, each holding up to 8 MiB of buffers with --blob fs (more: 503 with Retry-After)")
	fs.IntVar(&c.maxWatchers, "max-watchers", server.DefaultMaxWatchers, "GET /watch streams open at once (more: 503)")
	fs.IntVar(&c.maxWatchersPerSpace, "max-watchers-per-space", server.DefaultMaxWatchersPerSpace, "GET /watch streams open at once on one space or the service (more: 429)")
	fs.DurationVar(&c.watchWriteTimeout, "watch-write-timeout", server.DefaultWatchWriteTimeout, "how long one write to a GET /watch stream (event, heartbeat) may wait for the client to read; a client that stops reading is disconnected")
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
	case c.taskLease < task.MinLease:
		return usageError(stderr, "serve", "--task-lease %s: want at least %s", c.taskLease, task.MinLease)
	case c.minBodyRate <= 0:
		return usageError(stderr, "serve", "--min-body-rate %d: want a positive number of bytes per second", c.minBodyRate)
	case c.maxBodyBytes <= 0 || c.maxBodyBytes > server.MaxMessageSize:
		return usageError(stderr, "serve", "--max-body-bytes %d: want a positive number of bytes up to %d", c.maxBodyBytes, server.MaxMessageSize)
	case c.maxInFlight <= 0:
		return usageError(stderr, "serve", "--max-in-flight %d: want a positive number", c.maxInFlight)
	case c.maxUploads <= 0:
		return usageError(stderr, "serve", "--max-uploads %d: want a positive number", c.maxUploads)
	case c.maxWatchers <= 0:
		return usageError(stderr, "serve", "--max-watchers %d: want a positive number", c.maxWatchers)
	case c.logsInterval <= 0:
		return usageError(stderr, "serve", "--logs-interval %s: want a positive duration", c.logsInterval)
	case c.maxWatchersPerSpace <= 0:
		return usageError(stderr, "serve", "--max-watchers-per-space %d: want a positive number", c.maxWatchersPerSpace)
	case c.watchWriteTimeout <= 0:
		return usageError(stderr, "serve", "--watch-write-timeout %s: want a positive duration", c.watchWriteTimeout)
	}
	if c.broker != "" {
		if u, err := url.Parse(c.broker); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError(stderr, "serve", "--broker %q: want an http or https URL", c.broker)
		}
	}
	if err := c.aggregateBounds().Check(); err != nil {
		return usageError(stderr, "serve", "--aggregate-min %d, --aggregate-max %d: %v", c.aggMin, c.aggMax, err)
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

// aggregateBounds are the aggregate machine's bounds from --aggregate-min and --aggregate-max.
func (c serveConfig) aggregateBounds() aggregate.Bounds {
	return aggregate.Bounds{Min: uint64(c.aggMin), Max: uint64(c.aggMax)}
}

// byteSize is a flag holding a byte count: digits with an optional binary suffix (KiB,
// MiB, GiB, TiB), as parseByteSize reads it.
type byteSize uint64

func (b *byteSize) String() string { return strconv.FormatUint(uint64(*b), 10) }

func (b *byteSize) Set(v string) error {
	n, err := parseByteSize(v)
	if err != nil {
		return err
	}
	*b = byteSize(n)
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
