package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/w3dag/w3dag/kv"
)

const (
	// DefaultLockTimeout is how long Open waits for another process to release the file
	// lock when Options.LockTimeout is zero.
	DefaultLockTimeout = 10 * time.Second
	// FileMode is the permission of a newly created store file.
	FileMode os.FileMode = 0o600
)

var (
	bucketKV       = []byte("kv")
	bucketCounters = []byte("counters")
)

// Options configures Open. The zero value is the safe default: fsync on every commit and a
// DefaultLockTimeout wait for the file lock.
type Options struct {
	// NoSync skips fsync after commits. Faster, but a crash can lose recently committed
	// transactions or corrupt the file. Zero (false) fsyncs every commit, so a successful
	// Update is durable. Only for tests and throw-away stores.
	NoSync bool

	// LockTimeout is how long Open waits for another process holding the file open to let
	// go of it. Zero means DefaultLockTimeout; a negative value waits indefinitely.
	LockTimeout time.Duration

	// InitialMmapSize is the initial size of the memory map in bytes. While the file fits
	// in it, read transactions never hold up a write transaction that grows the file, and
	// commits do not remap. Zero means DefaultInitialMmapSize; a negative value lets bbolt
	// start small and remap (copying the pages a write transaction holds) each time the
	// file outgrows the map.
	InitialMmapSize int
}

// DefaultInitialMmapSize is the memory map reserved when Options.InitialMmapSize is zero,
// on 64-bit platforms other than Windows: there it costs address space only (pages are
// read as they are used; the file still grows in bbolt's 16 MiB steps, each fsynced, so
// durability is unchanged). On Windows bbolt would grow the file to the map's size, and
// 32-bit platforms lack the address space: there zero starts small.
const DefaultInitialMmapSize = 1 << 30

func defaultMmap() int {
	if runtime.GOOS == "windows" || strconv.IntSize < 64 {
		return 0
	}
	return DefaultInitialMmapSize
}

// Store is a kv.Store in one bbolt file. It is safe for concurrent use.
type Store struct {
	db   *bbolt.DB
	path string

	// gate admits transactions until Close.
	gate kv.Gate
}

var _ kv.Store = (*Store)(nil)

// Open opens (creating if needed) the bbolt file at path. The directory must exist.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.LockTimeout
	switch {
	case timeout == 0:
		timeout = DefaultLockTimeout
	case timeout < 0:
		timeout = 0 // bbolt: wait indefinitely
	}
	mmap := opts.InitialMmapSize
	switch {
	case mmap == 0:
		mmap = defaultMmap()
	case mmap < 0:
		mmap = 0
	}
	db, err := bbolt.Open(path, FileMode, &bbolt.Options{
		Timeout:         timeout,
		NoSync:          opts.NoSync,
		FreelistType:    bbolt.FreelistMapType,
		InitialMmapSize: mmap,
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("opening bolt store %s: file is locked by another process after waiting %v: %w", path, timeout, err)
		}
		return nil, fmt.Errorf("opening bolt store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketKV, bucketCounters} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("creating bucket %q: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening bolt store %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// View runs fn in a read-only bbolt transaction over a consistent snapshot.
func (s *Store) View(ctx context.Context, fn func(kv.Tx) error) error {
	if err := s.gate.Enter(ctx); err != nil {
		return err
	}
	defer s.gate.Leave()
	return s.db.View(func(btx *bbolt.Tx) error {
		t, err := newTx(btx)
		if err != nil {
			return err
		}
		defer func() { t.done = true }()
		return fn(t)
	})
}

// Update runs fn in one read-write bbolt transaction and commits it when fn returns nil.
// bbolt allows one writer at a time, so concurrent Updates run one after another.
func (s *Store) Update(ctx context.Context, fn func(kv.Tx) error) error {
	if err := s.gate.Enter(ctx); err != nil {
		return err
	}
	defer s.gate.Leave()
	return s.db.Update(func(btx *bbolt.Tx) error {
		// The context may have ended while waiting for the writer lock.
		if err := ctx.Err(); err != nil {
			return err
		}
		t, err := newTx(btx)
		if err != nil {
			return err
		}
		defer func() { t.done = true }()
		if err := fn(t); err != nil {
			return err
		}
		return nil
	})
}

// Close waits for transactions in progress and closes the file. Later transactions return
// kv.ErrClosed.
func (s *Store) Close() error {
	if !s.gate.Close() {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing bolt store %s: %w", s.path, err)
	}
	return nil
}

type tx struct {
	btx      *bbolt.Tx
	kv       *bbolt.Bucket
	counters *bbolt.Bucket
	done     bool
	scanning int // depth of Scan calls in progress
}

func newTx(btx *bbolt.Tx) (*tx, error) {
	t := &tx{btx: btx, kv: btx.Bucket(bucketKV), counters: btx.Bucket(bucketCounters)}
	if t.kv == nil || t.counters == nil {
		return nil, fmt.Errorf("%w: bucket %q or %q missing", ErrCorrupt, bucketKV, bucketCounters)
	}
	return t, nil
}

func (t *tx) checkWrite() error {
	switch {
	case t.done:
		return errTxDone
	case !t.btx.Writable():
		return kv.ErrReadOnly
	case t.scanning > 0:
		return errWriteInScan
	}
	return nil
}

// lookup returns the value at key in b, distinguishing an empty value from a missing key.
func lookup(b *bbolt.Bucket, key []byte) ([]byte, bool) {
	k, v := b.Cursor().Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		return nil, false
	}
	if v == nil {
		v = []byte{}
	}
	return v, true
}

func (t *tx) Get(key []byte) ([]byte, error) {
	if t.done {
		return nil, errTxDone
	}
	if err := kv.CheckKey(key); err != nil {
		return nil, err
	}
	v, ok := lookup(t.kv, key)
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
	// bbolt keeps the slices until commit; the caller may reuse them as soon as Put returns.
	// One allocation holds both copies.
	buf := make([]byte, len(key)+len(value))
	k := buf[:copy(buf, key):len(key)]
	v := buf[len(key):]
	copy(v, value)
	if err := t.kv.Put(k, v); err != nil {
		return fmt.Errorf("bolt put: %w", err)
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
	if err := t.kv.Delete(key); err != nil {
		return fmt.Errorf("bolt delete: %w", err)
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
	t.scanning++
	defer func() { t.scanning-- }()

	c := t.kv.Cursor()
	var k, v []byte
	inRange := func(k []byte) bool {
		if k == nil {
			return false
		}
		if opts.Reverse {
			return bytes.Compare(k, opts.Start) >= 0
		}
		return opts.End == nil || bytes.Compare(k, opts.End) < 0
	}
	next := c.Next
	if opts.Reverse {
		next = c.Prev
		if opts.End == nil {
			k, v = c.Last()
		} else if k, _ = c.Seek(opts.End); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	} else {
		k, v = c.Seek(opts.Start)
	}
	for n := 0; inRange(k) && (opts.Limit <= 0 || n < opts.Limit); n++ {
		if v == nil {
			v = []byte{}
		}
		if err := fn(k, v); err != nil {
			if errors.Is(err, kv.ErrStop) {
				return nil
			}
			return err
		}
		k, v = next()
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
	n, err := t.counter(key)
	if err != nil {
		return err
	}
	buf := make([]byte, 8)
	binary.BigEndian.PutUint64(buf, uint64(n+delta))
	if err := t.counters.Put(append(make([]byte, 0, len(key)), key...), buf); err != nil {
		return fmt.Errorf("bolt add: %w", err)
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
	return t.counter(key)
}

func (t *tx) counter(key []byte) (int64, error) {
	v, ok := lookup(t.counters, key)
	if !ok {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: counter %x holds %d bytes, want 8", ErrCorrupt, key, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}
