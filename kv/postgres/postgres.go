package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/w3dag/w3dag/kv"
)

const (
	// DefaultSchema holds the tables when Options.Schema is empty.
	DefaultSchema = "public"
	// MaxSchemaLen is the longest schema name accepted; PostgreSQL would silently truncate
	// longer identifiers.
	MaxSchemaLen = 63

	// MaxAttempts is how many times Update (and View) run a transaction that keeps failing
	// with a serialization failure or deadlock before giving up with ErrTooManyRetries.
	MaxAttempts = 30
	// RetryBaseDelay is the backoff ceiling after the first conflict; it doubles with each
	// further attempt up to RetryMaxDelay, and the actual wait is uniformly random below it.
	RetryBaseDelay = 2 * time.Millisecond
	// RetryMaxDelay caps the backoff ceiling between attempts.
	RetryMaxDelay = 200 * time.Millisecond

	// CounterShards is how many rows each counter is split into.
	CounterShards = 16
	// KeyPrefixSize is how many leading key bytes are stored (and indexed) in column k1;
	// the rest goes to k2 and is indexed through its SHA-256.
	KeyPrefixSize = 1024
	// ScanPageSize is how many rows Scan fetches per query.
	ScanPageSize = 128

	// FlushMaxRows caps the rows one statement of a write flush carries; a transaction
	// with more buffered writes sends several statements, still in one pipelined batch.
	FlushMaxRows = 1000
	// FlushMaxBytes caps the key and value bytes one statement of a write flush carries
	// (PostgreSQL rejects messages over 1 GiB); one write larger than this goes alone.
	FlushMaxBytes = 64 << 20
	// PrefetchMaxKeys caps the keys one statement of a Prefetch reads; a Prefetch of more
	// sends several statements, still in one pipelined batch (one round trip).
	PrefetchMaxKeys = 1000
	// CleanupTimeout bounds the statements that clean up after a transaction whose context
	// may have ended: a rollback, releasing the write lock (Options.SerialWrites), closing
	// a connection that could not release it.
	CleanupTimeout = 5 * time.Second
	// WriteLockTimeout bounds the wait for the write lock of Options.SerialWrites. A
	// writer that holds it longer (a node that hangs with its connection open) makes the
	// others' Updates fail with an error wrapping kv.ErrConflict after this long, which
	// the service answers 503 with Retry-After, instead of every node's writes waiting
	// for it without end.
	WriteLockTimeout = 30 * time.Second

	tableKV       = "w3dag_kv"
	tableCounters = "w3dag_kv_counters"
)

// Options configures Open. The zero value uses schema "public" and pgxpool's default pool
// size, and discards log messages.
type Options struct {
	// Schema holds the tables; it is created if missing. Empty means DefaultSchema.
	Schema string

	// MaxConns caps the connection pool. Zero keeps the URL's pool_max_conns, or pgxpool's
	// default (the larger of 4 and the number of CPUs).
	MaxConns int32

	// Logger receives a debug message for every retried transaction. Nil discards them.
	Logger *slog.Logger

	// SerialWrites makes the Update transactions of every Store open on the same schema,
	// in any process, run one at a time: each takes a session advisory lock (keyed by the
	// schema, WriteLockKey) on its connection before BEGIN and releases it after COMMIT.
	// Writers then queue instead of failing one another with serialization failures, the
	// right trade when every write transaction touches a common key (the engine's commit
	// sequence does): without it, a long transaction can lose to shorter ones on other
	// nodes until it runs out of attempts. An Update that waits longer than
	// WriteLockTimeout for the lock fails with an error wrapping kv.ErrConflict, having run
	// nothing. Views are not affected. False lets writers run concurrently and retries
	// their conflicts.
	SerialWrites bool

	// Tracer, when set, traces every statement on the pool's connections (pgx calls it
	// for each query, and for each batch too when it is also a pgx.BatchTracer): for
	// diagnostics such as OpenTelemetry, and tests count round trips with it. Nil traces
	// nothing.
	Tracer pgx.QueryTracer
}

// Store is a kv.Store in PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	schema  string
	log     *slog.Logger
	sql     queries
	retries atomic.Int64
	// shards maps each pooled *pgx.Conn to the counter shard its transactions add to,
	// handed out round-robin as connections open so that live connections differ.
	shards    sync.Map
	nextShard atomic.Uint32
	// retryBase and retryMax are RetryBaseDelay and RetryMaxDelay; tests shorten them.
	retryBase, retryMax time.Duration
	// lockWait is WriteLockTimeout; tests shorten it.
	lockWait time.Duration
	// gate admits transactions until Close.
	gate kv.Gate
	// serial is Options.SerialWrites; lockKey is WriteLockKey(schema).
	serial  bool
	lockKey int64
}

var _ kv.Store = (*Store)(nil)

// queries holds the SQL statements with the schema filled in.
type queries struct {
	get, scanCols, counter string
	// getMany is get for arrays of keys (unnest), used by Prefetch.
	getMany string
	// putMany, delMany and addMany are put, del and add for arrays of rows (unnest), used
	// to flush a transaction's buffered writes in one statement each.
	putMany, delMany, addMany string
}

func newQueries(schema string) queries {
	kvT := pgx.Identifier{schema, tableKV}.Sanitize()
	cT := pgx.Identifier{schema, tableCounters}.Sanitize()
	return queries{
		get:      "SELECT v FROM " + kvT + " WHERE k1 = $1 AND h = $2",
		scanCols: "SELECT k1, k2, v FROM " + kvT,
		// One lookup of the primary key per key, as get does: OFFSET 0 keeps the planner
		// from turning the lateral subquery into a join, which could scan the table (and,
		// SERIALIZABLE, take a predicate lock on all of it instead of the keys read).
		getMany: "SELECT r.k1, r.k2, r.v FROM unnest($1::bytea[], $2::bytea[]) AS u(k1, h) " +
			"CROSS JOIN LATERAL (SELECT t.k1, t.k2, t.v FROM " + kvT + " t WHERE t.k1 = u.k1 AND t.h = u.h OFFSET 0) AS r",
		counter: "SELECT coalesce(sum(n), 0)::bigint FROM " + cT + " WHERE h = $1",
		putMany: "INSERT INTO " + kvT + " (k1, k2, h, v) " +
			"SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::bytea[]) " +
			"ON CONFLICT (k1, h) DO UPDATE SET v = excluded.v",
		delMany: "DELETE FROM " + kvT + " WHERE (k1, h) IN (SELECT * FROM unnest($1::bytea[], $2::bytea[]))",
		addMany: "INSERT INTO " + cT + " (h, shard, k, n) " +
			"SELECT u.h, $2::int, u.k, u.n FROM unnest($1::bytea[], $3::bytea[], $4::bigint[]) AS u(h, k, n) " +
			"ON CONFLICT (h, shard) DO UPDATE SET n = " + cT + ".n + excluded.n",
	}
}

func schemaDDL(schema string) []string {
	s := pgx.Identifier{schema}.Sanitize()
	kvT := pgx.Identifier{schema, tableKV}.Sanitize()
	cT := pgx.Identifier{schema, tableCounters}.Sanitize()
	return []string{
		"CREATE SCHEMA IF NOT EXISTS " + s,
		"CREATE TABLE IF NOT EXISTS " + kvT + ` (
			k1 bytea NOT NULL,
			k2 bytea NOT NULL,
			h  bytea NOT NULL,
			v  bytea NOT NULL,
			PRIMARY KEY (k1, h))`,
		"CREATE TABLE IF NOT EXISTS " + cT + ` (
			h     bytea  NOT NULL,
			shard int    NOT NULL,
			k     bytea  NOT NULL,
			n     bigint NOT NULL,
			PRIMARY KEY (h, shard))`,
	}
}

// Open connects to the database at url (a postgres:// URL or key=value DSN), creates the
// schema and tables if missing, and returns the store. Close releases the pool.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	schema := opts.Schema
	if schema == "" {
		schema = DefaultSchema
	}
	if len(schema) > MaxSchemaLen || strings.ContainsRune(schema, 0) {
		return nil, fmt.Errorf("%w: %q (at most %d bytes, no NUL)", ErrInvalidSchema, schema, MaxSchemaLen)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may echo the password; don't repeat the URL.
		return nil, fmt.Errorf("opening postgres store: parsing connection URL: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.Tracer != nil {
		cfg.ConnConfig.Tracer = opts.Tracer
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		schema: schema, log: log, sql: newQueries(schema),
		retryBase: RetryBaseDelay, retryMax: RetryMaxDelay, lockWait: WriteLockTimeout,
		serial: opts.SerialWrites, lockKey: WriteLockKey(schema),
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		s.shards.Store(c, int(s.nextShard.Add(1)-1)%CounterShards)
		return nil
	}
	cfg.BeforeClose = func(c *pgx.Conn) { s.shards.Delete(c) }
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening postgres store: %w", err)
	}
	if err := createSchema(ctx, pool, schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("opening postgres store on %s: %w", cfg.ConnConfig.Host, err)
	}
	s.pool = pool
	return s, nil
}

// createSchema runs the DDL, retrying once when another process created the same objects
// concurrently (CREATE ... IF NOT EXISTS can still collide on the catalog's unique index).
func createSchema(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	var err error
	for range 2 {
		err = pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
			for _, stmt := range schemaDDL(schema) {
				if _, err := c.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("creating tables in schema %q: %w", schema, err)
				}
			}
			return nil
		})
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "23505" {
			return err
		}
	}
	return err
}

// Schema returns the schema holding the store's tables.
func (s *Store) Schema() string { return s.schema }

// Retries returns how many times a transaction has been re-run after a conflict since
// the store was opened.
func (s *Store) Retries() int64 { return s.retries.Load() }

// View runs fn in a SERIALIZABLE READ ONLY DEFERRABLE transaction.
func (s *Store) View(ctx context.Context, fn func(kv.Tx) error) error {
	return s.run(ctx, pgx.TxOptions{
		IsoLevel:       pgx.Serializable,
		AccessMode:     pgx.ReadOnly,
		DeferrableMode: pgx.Deferrable,
	}, fn)
}

// Update runs fn in a SERIALIZABLE transaction, re-running it on serialization failures
// and deadlocks.
func (s *Store) Update(ctx context.Context, fn func(kv.Tx) error) error {
	return s.run(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable, AccessMode: pgx.ReadWrite}, fn)
}

func (s *Store) run(ctx context.Context, opts pgx.TxOptions, fn func(kv.Tx) error) error {
	if err := s.gate.Enter(ctx); err != nil {
		return err
	}
	defer s.gate.Leave()
	var db beginner = s.pool
	if s.serial && opts.AccessMode != pgx.ReadOnly {
		conn, err := s.lockWrites(ctx)
		if err != nil {
			return err
		}
		defer s.unlockWrites(ctx, conn)
		db = conn
	}
	for attempt := 1; ; attempt++ {
		conflict, err := s.attempt(ctx, db, opts, attempt, fn)
		if !conflict {
			return err
		}
		if attempt >= MaxAttempts {
			return fmt.Errorf("%w (%d attempts): %w", ErrTooManyRetries, attempt, err)
		}
		s.retries.Add(1)
		ceiling := min(s.retryBase<<min(attempt-1, 20), s.retryMax)
		wait := rand.N(ceiling) + time.Microsecond
		s.log.Debug("postgres kv: retrying conflicting transaction", "attempt", attempt, "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after %d conflicting attempts: %v)", ctx.Err(), attempt, err)
		case <-time.After(wait):
		}
	}
}

// attempt runs fn once in a new transaction and commits it if fn returns nil. conflict
// reports that the transaction failed with a serialization failure or deadlock and should
// be retried.
func (s *Store) attempt(ctx context.Context, db beginner, opts pgx.TxOptions, n int, fn func(kv.Tx) error) (conflict bool, err error) {
	ptx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return isConflict(err), fmt.Errorf("postgres kv: begin: %w", err)
	}
	t := &tx{ctx: ctx, s: s, ptx: ptx, writable: opts.AccessMode != pgx.ReadOnly}
	if shard, ok := s.shards.Load(ptx.Conn()); ok && n == 1 {
		t.shard = shard.(int)
	} else {
		// After a conflict (or for a connection not seen connecting), add to a random
		// shard instead.
		t.shard = rand.IntN(CounterShards)
	}
	committed := false
	defer func() {
		t.done = true
		if !committed {
			// Also runs when fn panics. The context may be gone; roll back regardless.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
			defer cancel()
			_ = ptx.Rollback(rctx)
		}
	}()

	if err := fn(t); err != nil {
		// A conflict seen by any statement aborted the transaction; whatever fn made of
		// it, running fn again is the right answer.
		return t.conflict || isConflict(err), err
	}
	if t.conflict {
		return true, t.dbErr
	}
	if t.dbErr != nil {
		// fn ignored a database error; the transaction is aborted and cannot commit.
		return false, fmt.Errorf("postgres kv: transaction aborted by an earlier statement: %w", t.dbErr)
	}
	if err := t.flush(); err != nil {
		return t.conflict, err
	}
	if err := ptx.Commit(ctx); err != nil {
		committed = true // Commit ends the transaction either way.
		return isConflict(err), fmt.Errorf("postgres kv: commit: %w", err)
	}
	committed = true
	return false, nil
}

// beginner starts transactions: the pool, or the connection holding the write lock.
type beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// WriteLockKey is the advisory lock key that Stores with Options.SerialWrites on schema
// take around each Update: the first 8 bytes, big-endian, of the SHA-256 of
// "w3dag/kv/postgres/write/" and the schema name. Stores on different schemas of one
// database do not block each other.
func WriteLockKey(schema string) int64 {
	sum := sha256.Sum256([]byte("w3dag/kv/postgres/write/" + schema))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// lockWrites acquires a connection and takes the write lock on it, waiting for the
// Update that holds it (in this process or another) to finish. A connection that dies
// releases the lock (PostgreSQL drops a session's advisory locks with it).
func (s *Store) lockWrites(ctx context.Context) (*pgxpool.Conn, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres kv: acquiring a connection: %w", err)
	}
	lctx, cancel := context.WithTimeout(ctx, s.lockWait)
	defer cancel()
	if _, err := conn.Exec(lctx, "SELECT pg_advisory_lock($1)", s.lockKey); err != nil {
		// The lock may have been granted as lctx ended; only closing the connection makes
		// sure it is not held.
		closeConn(conn)
		if ctx.Err() == nil && lctx.Err() != nil {
			return nil, fmt.Errorf("postgres kv: %w: no turn at the write lock after %v (another writer holds it): %w", kv.ErrConflict, s.lockWait, err)
		}
		return nil, fmt.Errorf("postgres kv: taking the write lock: %w", err)
	}
	return conn, nil
}

// unlockWrites releases the write lock and the connection; when the unlock fails the
// connection is closed instead, which releases the lock too.
func (s *Store) unlockWrites(ctx context.Context, conn *pgxpool.Conn) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
	defer cancel()
	var released bool
	if err := conn.QueryRow(uctx, "SELECT pg_advisory_unlock($1)", s.lockKey).Scan(&released); err != nil || !released {
		s.log.Warn("postgres kv: releasing the write lock failed; closing the connection", "err", err, "released", released)
		closeConn(conn)
		return
	}
	conn.Release()
}

// closeConn closes conn's connection and returns it to the pool, which drops it.
func closeConn(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), CleanupTimeout)
	defer cancel()
	_ = conn.Conn().Close(ctx)
	conn.Release()
}

// isConflict reports whether err is a serialization failure or deadlock, after which the
// whole transaction can be retried.
func isConflict(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == "40001" || pgErr.Code == "40P01"
}

// Close waits for transactions in progress and closes the pool. Later transactions return
// kv.ErrClosed.
func (s *Store) Close() error {
	if !s.gate.Close() {
		return nil
	}
	s.pool.Close()
	return nil
}
