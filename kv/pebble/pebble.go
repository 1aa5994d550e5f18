package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/w3dag/w3dag/internal/failrun"
	"github.com/w3dag/w3dag/kv"
)

// Key prefixes: plain keys and counters are separate namespaces.
const (
	prefixKV      = 'k'
	prefixCounter = 'c'
)

const (
	// CacheSize is the block cache of a store, in bytes, beyond its memtables (Pebble's
	// default cache is 8 MiB). Pebble reserves the size of every memtable it holds in the
	// block cache, so Open makes the cache CacheSize plus the most its memtables can
	// reserve (memTableStopWrites memtables of MemTableSize): a cache of CacheSize alone
	// would be wholly reserved by two full memtables and keep no block, and every read of
	// a table would go to the file and decompress its block again.
	CacheSize = 64 << 20
	// memTableStopWrites is how many memtables' worth of unflushed writes Pebble holds
	// before it stops writes until a flush completes (Options.MemTableStopWritesThreshold,
	// its default).
	memTableStopWrites = 2
	// DefaultMemTableSize is the size of a store's memtable, in bytes, when
	// Options.MemTableSize is zero (Pebble's own default is 4 MiB). Writes fill the
	// memtable, which is flushed to a level-0 table when full: a larger one means fewer
	// flushes, fewer level-0 tables for each read to look in, less compaction, and outbox
	// rows written and deleted before a flush never reach a table. Resident memory grows by
	// up to two memtables (the full one while it flushes, and the next).
	DefaultMemTableSize = 32 << 20
	// bloomBitsPerKey sizes the Bloom filters of the sorted tables (about 1% false
	// positives).
	bloomBitsPerKey = 10
	// maxMemTableSize bounds Options.MemTableSize (Pebble's limit, excluded).
	maxMemTableSize int64 = 4<<30 - 1
)

// Options configures Open. The zero value is the safe default: every Update is fsynced
// before it returns, and Pebble's messages go to slog.Default.
type Options struct {
	// NoSync skips the fsync of commits. Faster, but a crash can lose recently committed
	// transactions. Zero (false) syncs the write-ahead log before Update returns, so a
	// successful Update is durable. Only for tests and throw-away stores.
	NoSync bool

	// MemTableSize is the memtable size in bytes; zero means DefaultMemTableSize. It must
	// be below 4 GiB − 1 (Pebble's limit).
	MemTableSize int

	// Logger receives Pebble's own messages (informational ones at debug level) and the
	// store's failure (Failed), at error level, once. Nil means slog.Default(). The
	// messages carry no attribute naming their source: the caller's logger does.
	Logger *slog.Logger

	// fs replaces the file system (tests: a file system whose syncs can be held up).
	// Nil means the operating system's.
	fs vfs.FS
}

// Store is a kv.Store in one Pebble directory. It is safe for concurrent use.
type Store struct {
	db     *pdb.DB
	path   string
	noSync bool
	log    *slog.Logger // Options.Logger: Pebble's messages, and the store's failure

	// gate admits transactions until Close.
	gate kv.Gate

	// wmu is the writer lock: held while an Update runs its function and applies its
	// batch, released before the batch's fsync.
	wmu sync.Mutex
	// commits counts applied batches; guarded by wmu.
	commits uint64
	// last is the latest applied batch, whose sync may still be running; guarded by
	// wmu. Nil before the first commit.
	last *commit

	// vmu guards cur, the snapshot Views read: the newest durable state.
	vmu sync.Mutex
	cur *view

	// failed holds the first commit error; once set, Updates return ErrFailed.
	failed atomic.Pointer[error]
}

// view is a snapshot shared by Views, closed when the last of them and the store let go.
type view struct {
	snap   *pdb.Snapshot
	commit uint64 // commits included
	refs   atomic.Int64
}

func (v *view) release() {
	if v.refs.Add(-1) == 0 {
		_ = v.snap.Close()
	}
}

var _ kv.Pipeliner = (*Store)(nil)

// Open opens (creating if needed) the Pebble store in directory dir. The directory is
// created if missing; its parent must exist.
func Open(dir string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	memTable := opts.MemTableSize
	switch {
	case memTable == 0:
		memTable = DefaultMemTableSize
	case memTable < 0 || int64(memTable) >= maxMemTableSize:
		return nil, fmt.Errorf("opening pebble store %s: MemTableSize %d is not between 1 and %d", dir, opts.MemTableSize, maxMemTableSize-1)
	}
	fs := opts.fs
	if fs == nil {
		fs = vfs.Default
	}
	if err := checkSpace(fs, dir); err != nil {
		return nil, fmt.Errorf("opening pebble store %s: %w", dir, err)
	}
	cache := pdb.NewCache(CacheSize + memTableStopWrites*int64(memTable))
	defer cache.Unref() // the DB holds its own reference
	po := &pdb.Options{
		Logger:             logger{log},
		EventListener:      backgroundErrors(log),
		FormatMajorVersion: pdb.FormatNewest,
		FS:                 opts.fs,
		Cache:              cache,
		MemTableSize:       uint64(memTable),
		// The cache's size above counts on this bound.
		MemTableStopWritesThreshold: memTableStopWrites,
	}
	for i := range po.Levels {
		// Most Gets of the engine are of keys that may be missing (does this task, block,
		// index key exist?): a Bloom filter answers those without reading a block.
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(bloomBitsPerKey)
	}
	db, err := pdb.Open(dir, po)
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) {
			// Pebble locks the directory's LOCK file with fcntl(F_SETLK), which Linux fails
			// with EAGAIN while another process holds it. (POSIX allows EACCES too, but that
			// is also what a permission problem gives.)
			return nil, fmt.Errorf("opening pebble store %s: %w: %w", dir, ErrLocked, err)
		}
		return nil, fmt.Errorf("opening pebble store %s: %w", dir, err)
	}
	s := &Store{db: db, path: dir, noSync: opts.NoSync, log: log}
	s.cur = s.newView(0)
	return s, nil
}

// newView snapshots the current state as including the first commit commits.
func (s *Store) newView(commit uint64) *view {
	v := &view{snap: s.db.NewSnapshot(), commit: commit}
	v.refs.Store(1) // the store's own reference, dropped when replaced
	return v
}

// publish makes v what Views read, unless a newer view is already published.
func (s *Store) publish(v *view) {
	s.vmu.Lock()
	old := s.cur
	if old.commit >= v.commit {
		s.vmu.Unlock()
		v.release()
		return
	}
	s.cur = v
	s.vmu.Unlock()
	old.release()
}

func (s *Store) acquire() *view {
	s.vmu.Lock()
	defer s.vmu.Unlock()
	s.cur.refs.Add(1)
	return s.cur
}

// Path returns the directory the store was opened from.
func (s *Store) Path() string { return s.path }

func (s *Store) failure() error {
	if p := s.failed.Load(); p != nil {
		return fmt.Errorf("%w: %w", ErrFailed, *p)
	}
	return nil
}

// Failed returns the error that failed the store (wrapping ErrFailed) once a commit has
// failed to reach the disk, nil before: from then on every Update fails with it until the
// store is opened again, while Views go on reading the last durable state.
func (s *Store) Failed() error { return s.failure() }

// fail fails the store with err, a commit's failure to reach the disk, and returns the
// commit's error. The first failure is logged, once, at error level (kv.ErrFailed): the
// errors of the transactions that fail after it are their callers' to log.
func (s *Store) fail(err error) error {
	if s.failed.CompareAndSwap(nil, &err) {
		// err.Error(), not err: Pebble's errors print their stack traces under %+v, which
		// slog's text handler uses.
		s.log.Error("kv/pebble: a commit failed to reach the disk; the store takes no more writes until it is opened again (restart the service)",
			"dir", s.path, "err", err.Error())
	}
	return fmt.Errorf("%w: %w", ErrFailed, err)
}

// View runs fn over the newest durable snapshot. It never waits for an Update.
func (s *Store) View(ctx context.Context, fn func(kv.Tx) error) error {
	if err := s.gate.Enter(ctx); err != nil {
		return err
	}
	defer s.gate.Leave()
	v := s.acquire()
	defer v.release()
	t := &tx{r: v.snap}
	defer func() { t.done = true }()
	return fn(t)
}

// Update runs fn on an indexed batch under the writer lock and commits the batch when fn
// returns nil. It returns once the batch is durable (see the package documentation):
// UpdateApplied and then its wait.
func (s *Store) Update(ctx context.Context, fn func(kv.Tx) error) error {
	wait, err := s.UpdateApplied(ctx, fn)
	if err != nil {
		return err
	}
	return wait()
}

// commit is a batch applied to the write-ahead log whose sync may still be running.
type commit struct {
	once sync.Once
	// prev is the commit applied before this one, until this one is settled.
	prev *commit
	b    *pdb.Batch // nil when the batch was empty (then v is nil too)
	v    *view      // what Views read once the batch is durable
	err  error      // set by settle
}

// settle waits until c is durable and then publishes its view; it fails c when its sync
// failed, or an earlier commit's did. Earlier commits are settled first (their waits may not
// have been called yet), so views are published in commit order and a failure passes to
// every later commit. It is safe to call from many goroutines; all get the first result.
func (s *Store) settle(c *commit) error {
	c.once.Do(func() {
		var prevErr error
		if c.prev != nil {
			prevErr = s.settle(c.prev)
			c.prev = nil // let the settled chain be collected
		}
		if c.b == nil {
			c.err = prevErr
			return
		}
		err := c.b.SyncWait()
		switch {
		case err != nil:
			// Pebble keeps a batch whose commit failed; it must not be reused or closed.
			c.err = s.fail(err)
			c.v.release()
		case prevErr != nil:
			c.err = fmt.Errorf("pebble commit after a failed one: %w", prevErr)
			c.v.release()
			_ = c.b.Close()
		default:
			s.publish(c.v)
			_ = c.b.Close()
		}
	})
	return c.err
}

// UpdateApplied runs fn on an indexed batch under the writer lock and applies the batch
// when fn returns nil, returning before its fsync: the next transaction builds its batch
// over this one's writes while they sync. wait returns once they are durable (kv.Pipeliner).
func (s *Store) UpdateApplied(ctx context.Context, fn func(kv.Tx) error) (wait func() error, err error) {
	if err := s.gate.Enter(ctx); err != nil {
		return nil, err
	}
	entered := true
	defer func() {
		if entered {
			s.gate.Leave()
		}
	}()

	s.wmu.Lock()
	locked := true
	defer func() {
		if locked {
			s.wmu.Unlock()
		}
	}()
	// The context may have ended while waiting for the writer lock.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.failure(); err != nil {
		return nil, err
	}
	b := s.db.NewIndexedBatch()
	applied := false
	defer func() {
		if !applied {
			_ = b.Close()
		}
	}()
	t := &tx{r: b, b: b}
	err = func() error {
		defer func() { t.done = true }()
		return fn(t)
	}()
	if err != nil {
		return nil, err
	}

	var c *commit
	switch {
	case b.Empty():
		// Nothing to write, but what fn read may come from a batch still syncing: wait
		// returns once that is durable, like any other Update's.
		c = &commit{prev: s.last}
	case s.noSync:
		if err := s.db.Apply(b, pdb.NoSync); err != nil {
			return nil, s.fail(err)
		}
		s.commits++
		s.publish(s.newView(s.commits))
		c = &commit{}
	default:
		applied = true
		if err := s.db.ApplyNoSyncWait(b, pdb.Sync); err != nil {
			// Pebble keeps a batch it failed to apply; it must not be reused or closed.
			return nil, s.fail(err)
		}
		s.commits++
		c = &commit{prev: s.last, b: b, v: s.newView(s.commits)}
		s.last = c
	}
	s.wmu.Unlock()
	locked = false

	// The transaction stays in the gate (Close waits for it) until its wait is called.
	entered = false
	var left atomic.Bool
	return func() error {
		err := s.settle(c)
		if err == nil && c.b == nil {
			err = s.failure()
		}
		if left.CompareAndSwap(false, true) {
			s.gate.Leave()
		}
		return err
	}, nil
}

// Close waits for transactions in progress and closes the store. Later transactions
// return kv.ErrClosed.
func (s *Store) Close() error {
	if !s.gate.Close() {
		return nil
	}
	s.vmu.Lock()
	s.cur.release()
	s.vmu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing pebble store %s: %w", s.path, err)
	}
	return nil
}

type tx struct {
	// r is what the transaction reads: an indexed batch (Update) or a snapshot (View).
	r        pdb.Reader
	b        *pdb.Batch // nil in a View
	done     bool
	scanning int // depth of Scan calls in progress
	// key holds the prefixed key of the Get, Put or Delete in progress: Pebble copies
	// the keys a batch writes and keeps none it looks up once the lookup's closer is
	// closed, so one buffer serves every call of the (single-goroutine) transaction
	// instead of an allocation each.
	key []byte
}

func (t *tx) checkWrite() error {
	switch {
	case t.done:
		return errTxDone
	case t.b == nil:
		return kv.ErrReadOnly
	case t.scanning > 0:
		return errWriteInScan
	}
	return nil
}

// prefixed returns prefix followed by key, in a new slice.
func prefixed(prefix byte, key []byte) []byte {
	k := make([]byte, 1+len(key))
	k[0] = prefix
	copy(k[1:], key)
	return k
}

// kvKey returns key under prefixKV in t's key buffer, valid until the next kvKey call.
func (t *tx) kvKey(key []byte) []byte {
	t.key = append(append(t.key[:0], prefixKV), key...)
	return t.key
}

// lookup returns a copy of the value at key, distinguishing an empty value from a
// missing key.
func (t *tx) lookup(key []byte) ([]byte, bool, error) {
	v, closer, err := t.r.Get(key)
	if errors.Is(err, pdb.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("pebble get: %w", err)
	}
	out := bytes.Clone(v)
	if out == nil {
		out = []byte{}
	}
	_ = closer.Close()
	return out, true, nil
}

func (t *tx) Get(key []byte) ([]byte, error) {
	if t.done {
		return nil, errTxDone
	}
	if err := kv.CheckKey(key); err != nil {
		return nil, err
	}
	v, ok, err := t.lookup(t.kvKey(key))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, kv.ErrNotFound
	}
	return v, nil
}

func (t *tx) Put(key, value []byte) error {
	if err := t.checkWrite(); err != nil {
		return err
	}
	if err := kv.CheckKey(key); err != nil {
		return err
	}
	if err := kv.CheckValue(value); err != nil {
		return err
	}
	// The batch copies key and value; the caller may reuse them as soon as Put returns
	// (and t its key buffer).
	if err := t.b.Set(t.kvKey(key), value, nil); err != nil {
		return fmt.Errorf("pebble put: %w", err)
	}
	return nil
}

func (t *tx) Delete(key []byte) error {
	if err := t.checkWrite(); err != nil {
		return err
	}
	if err := kv.CheckKey(key); err != nil {
		return err
	}
	if err := t.b.Delete(t.kvKey(key), nil); err != nil {
		return fmt.Errorf("pebble delete: %w", err)
	}
	return nil
}

func (t *tx) Scan(opts kv.ScanOptions, fn func(k, v []byte) error) error {
	if t.done {
		return errTxDone
	}
	if opts.End != nil && bytes.Compare(opts.Start, opts.End) >= 0 {
		return nil
	}
	upper := []byte{prefixKV + 1}
	if opts.End != nil {
		upper = prefixed(prefixKV, opts.End)
	}
	it, err := t.r.NewIter(&pdb.IterOptions{LowerBound: prefixed(prefixKV, opts.Start), UpperBound: upper})
	if err != nil {
		return fmt.Errorf("pebble scan: %w", err)
	}
	t.scanning++
	defer func() { t.scanning-- }()

	valid, next := it.First, it.Next
	if opts.Reverse {
		valid, next = it.Last, it.Prev
	}
	for ok, n := valid(), 0; ok && (opts.Limit <= 0 || n < opts.Limit); ok, n = next(), n+1 {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("pebble scan: %w", err)
		}
		if v == nil {
			v = []byte{}
		}
		if err := fn(it.Key()[1:], v); err != nil {
			_ = it.Close()
			if errors.Is(err, kv.ErrStop) {
				return nil
			}
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("pebble scan: %w", err)
	}
	return nil
}

func (t *tx) Add(key []byte, delta int64) error {
	if err := t.checkWrite(); err != nil {
		return err
	}
	if err := kv.CheckKey(key); err != nil {
		return err
	}
	k := prefixed(prefixCounter, key)
	n, err := t.counter(k)
	if err != nil {
		return err
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(n+delta))
	if err := t.b.Set(k, buf[:], nil); err != nil {
		return fmt.Errorf("pebble add: %w", err)
	}
	return nil
}

func (t *tx) Counter(key []byte) (int64, error) {
	if t.done {
		return 0, errTxDone
	}
	if err := kv.CheckKey(key); err != nil {
		return 0, err
	}
	return t.counter(prefixed(prefixCounter, key))
}

// counter reads the counter at the prefixed key k.
func (t *tx) counter(k []byte) (int64, error) {
	v, ok, err := t.lookup(k)
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: counter %x holds %d bytes, want 8", ErrCorrupt, k[1:], len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// openSpaceMargin is the free space Open asks for beyond the write-ahead logs it flushes:
// a new write-ahead log, a manifest, and the flush's own overhead.
const openSpaceMargin = 4 << 20

// checkSpace returns ErrNoSpace when the file system of dir has less free space than
// opening the store there needs: the size of the write-ahead logs Pebble replays and
// flushes before Open returns (on a full disk that flush fails, and Pebble retries it
// without end), and openSpaceMargin. It says nothing when the free space cannot be read.
func checkSpace(fs vfs.FS, dir string) error {
	at := dir
	if _, err := fs.Stat(dir); err != nil {
		at = filepath.Dir(dir) // a new store: its parent must exist
	}
	du, err := fs.GetDiskUsage(at)
	if err != nil {
		return nil
	}
	var wal uint64
	names, _ := fs.List(dir)
	for _, n := range names {
		if !strings.HasSuffix(n, ".log") {
			continue
		}
		if fi, err := fs.Stat(fs.PathJoin(dir, n)); err == nil {
			wal += uint64(fi.Size())
		}
	}
	need := wal + openSpaceMargin
	if du.AvailBytes >= need {
		return nil
	}
	return fmt.Errorf("%w: its file system has %s free, and opening it needs about %s (%s of write-ahead log to flush and %s more); free space there and open it again",
		ErrNoSpace, mib(du.AvailBytes), mib(need), mib(wal), mib(openSpaceMargin))
}

// mib spells n bytes in MiB with one decimal.
func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// backgroundErrors is the store's Pebble event listener: Pebble's background errors (a
// flush or compaction that failed, which Pebble retries) go to log through a failrun.Log,
// so that one that keeps failing is logged once and then once a minute, not at every
// retry; the next flush or compaction that succeeds says so. The other events are
// Pebble's defaults.
func backgroundErrors(log *slog.Logger) *pdb.EventListener {
	var mu sync.Mutex
	fails := failrun.Log{What: "pebble: background flush or compaction"}
	ok := func(err error) {
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		fails.Succeeded(context.Background(), log, time.Now())
	}
	return &pdb.EventListener{
		BackgroundError: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			// The text alone: Pebble's errors print their stack traces under %+v.
			fails.Failed(context.Background(), log, errors.New(err.Error()), time.Now())
		},
		FlushEnd:      func(info pdb.FlushInfo) { ok(info.Err) },
		CompactionEnd: func(info pdb.CompactionInfo) { ok(info.Err) },
	}
}

// logger hands Pebble's messages to slog.
type logger struct{ log *slog.Logger }

func (l logger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...))
}

func (l logger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...))
}

// Fatalf is called by Pebble on unrecoverable corruption; like Pebble's own logger, it
// does not return.
func (l logger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error(msg)
	panic("pebble: " + msg)
}
