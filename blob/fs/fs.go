package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/w3dag/w3dag/blob"
)

const (
	// DirPerm is the permission of directories the Store creates.
	DirPerm = 0o755
	// FilePerm is the permission of blob files.
	FilePerm = 0o644
	// maxPutAttempts bounds how often Put recreates a directory that a concurrent Delete
	// removed because it had become empty.
	maxPutAttempts = 8
	// tempPrefix starts the names of temporary files; '~' is not allowed in keys.
	tempPrefix = "~put-"
)

// Options configure a Store. The zero value gives a Store without presigned uploads.
type Options struct {
	// Secret keys the HMAC-SHA256 that signs presigned upload URLs; it must be at least
	// MinSecretLength bytes. Empty: the Store does not presign, and PresignPut and
	// VerifyPresigned fail with blob.ErrNoPresign.
	Secret []byte
	// URL returns the URL a client PUTs the blob at key to (w3dag's PUT /blob/{cid}
	// route); PresignPut adds the signature parameters to its query. Required when Secret
	// is set.
	URL func(key string) string
}

// Store is a blob.Store keeping each blob in a file under a root directory. It is safe for
// concurrent use, also by several processes sharing the directory.
type Store struct {
	root   *os.Root
	secret []byte
	url    func(key string) string
}

var (
	_ blob.Store     = (*Store)(nil)
	_ blob.Presigner = (*Store)(nil)
)

// Open opens the store rooted at dir, creating dir if it does not exist. Close releases it.
func Open(dir string, opts Options) (*Store, error) {
	if len(opts.Secret) > 0 && len(opts.Secret) < MinSecretLength {
		return nil, fmt.Errorf("fs: Options.Secret has %d bytes, want at least %d", len(opts.Secret), MinSecretLength)
	}
	if len(opts.Secret) > 0 && opts.URL == nil {
		return nil, errors.New("fs: Options.Secret is set but Options.URL is nil")
	}
	if err := os.MkdirAll(dir, DirPerm); err != nil {
		return nil, fmt.Errorf("fs: creating root: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("fs: opening root: %w", err)
	}
	return &Store{root: root, secret: slices.Clone(opts.Secret), url: opts.URL}, nil
}

// Close releases the root directory.
func (s *Store) Close() error {
	return s.root.Close()
}

func checkKey(op, key string) error {
	if !blob.ValidKey(key) {
		return fmt.Errorf("fs: %s %q: %w", op, key, blob.ErrInvalidKey)
	}
	return nil
}

// missing reports whether err means that a path does not exist as a file: it or one of
// its directories is missing, or a directory on the way is a file.
func missing(err error) bool {
	return errors.Is(err, iofs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Put streams r into a temporary file next to the blob, verifies it and renames it into
// place.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts blob.PutOptions) error {
	return s.put(ctx, key, r, nil, opts, true)
}

// put is Put; with durable false it leaves every fsync (file, new directories, the
// renamed entry) to a later syncfs, as PutBatch does. data, when not nil, is r's bytes
// (PutBatch's): written from where they are when opts asks for no digest and has their
// size.
func (s *Store) put(ctx context.Context, key string, r io.Reader, data []byte, opts blob.PutOptions, durable bool) error {
	if err := checkKey("put", key); err != nil {
		return err
	}
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("fs: put %q: %w", key, err)
	}
	// The reader checks the size; the digest is checked in a goroutine of its own.
	vr, err := blob.Verify(ctx, r, blob.PutOptions{Size: opts.Size})
	if err != nil {
		return fmt.Errorf("fs: put %q: %w", key, err)
	}
	var digest *blob.DigestCheck
	if opts.SHA256 != nil {
		if digest, err = blob.NewDigestCheck(opts.SHA256); err != nil {
			return fmt.Errorf("fs: put %q: %w", key, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fs: put %q: %w", key, err)
	}
	dir := path.Dir(key)
	direct := directIO && openDirect != 0 && (opts.Size < 0 || opts.Size >= DirectMinSize)
	f, tmp, direct, err := s.createTemp(dir, direct, durable)
	if err != nil {
		return fmt.Errorf("fs: put %q: %w", key, err)
	}
	if data != nil && (digest != nil || opts.Size != int64(len(data))) {
		data = nil // read through vr, which checks them
	}
	if err := fill(f, direct, vr, data, digest, durable, opts.Size); err != nil {
		s.root.Remove(tmp)
		s.prune(dir)
		return fmt.Errorf("fs: put %q: %w", key, err)
	}
	if err := s.root.Rename(tmp, key); err != nil {
		s.root.Remove(tmp)
		s.prune(dir)
		if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
			err = fmt.Errorf("%w: %w", ErrKeyConflict, err)
		}
		return fmt.Errorf("fs: put %q: %w", key, err)
	}
	if durable {
		if err := s.syncDir(dir); err != nil {
			return fmt.Errorf("fs: put %q: %w", key, err)
		}
	}
	return nil
}

// fill copies r into f (open for direct I/O if direct) while feeding digest (when not
// nil), checks the digest, syncs f (if durable) and closes it. size is r's length (-1:
// unknown): a blob known to be smaller than CopyBufferSize is copied through one small
// buffer (copySmall) instead of the pipeline's PipelineDepth large ones. data, when not
// nil, is r's bytes, checked (size, no digest): they are written as they are, with no
// copy into buffers (sink.write leaves direct I/O if their address is not aligned).
func fill(f *os.File, direct bool, r io.Reader, data []byte, digest *blob.DigestCheck, durable bool, size int64) error {
	var h io.Writer
	if digest != nil {
		h = digest
	}
	var err error
	if w := (&sink{f: f, direct: direct}); data != nil {
		err = w.write(data)
	} else if !direct && size >= 0 && size < CopyBufferSize {
		err = copySmall(w, r, h, size)
	} else {
		err = copyTo(w, r, h)
	}
	if err == nil && digest != nil {
		err = digest.Check()
	}
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// createTemp creates a new temporary file in dir, creating dir as needed (syncing new
// directories if durable), open for direct I/O if direct and the file system allows it;
// it reports whether the file is.
func (s *Store) createTemp(dir string, direct, durable bool) (*os.File, string, bool, error) {
	var err error
	for range maxPutAttempts {
		if err = s.mkdirs(dir, durable); err != nil {
			if errors.Is(err, iofs.ErrNotExist) {
				continue // a concurrent Delete pruned a directory: try again
			}
			return nil, "", false, err
		}
		tmp := path.Join(dir, fmt.Sprintf("%s%016x", tempPrefix, rand.Uint64()))
		flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		var f *os.File
		if direct {
			f, err = s.root.OpenFile(tmp, flag|openDirect, FilePerm)
			if errors.Is(err, syscall.EINVAL) {
				direct = false // the file system has no direct I/O
			}
		}
		if !direct {
			f, err = s.root.OpenFile(tmp, flag, FilePerm)
		}
		if err == nil {
			return f, tmp, direct, nil
		}
		if !errors.Is(err, iofs.ErrNotExist) && !errors.Is(err, iofs.ErrExist) {
			break
		}
	}
	if errors.Is(err, syscall.ENOTDIR) {
		err = fmt.Errorf("%w: %w", ErrKeyConflict, err)
	}
	return nil, "", false, fmt.Errorf("creating temporary file: %w", err)
}

// mkdirs creates dir and its parents, syncing the parent of each directory it creates
// when durable.
func (s *Store) mkdirs(dir string, durable bool) error {
	if dir == "." {
		return nil
	}
	cur := "."
	for seg := range strings.SplitSeq(dir, "/") {
		parent := cur
		cur = path.Join(cur, seg)
		err := s.root.Mkdir(cur, DirPerm)
		switch {
		case err == nil:
			if !durable {
				continue
			}
			if err := s.syncDir(parent); err != nil {
				return err
			}
		case errors.Is(err, iofs.ErrExist):
		case errors.Is(err, syscall.ENOTDIR):
			return fmt.Errorf("%w: %w", ErrKeyConflict, err)
		default:
			return fmt.Errorf("creating directory: %w", err)
		}
	}
	return nil
}

func (s *Store) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("syncing directory: %w", err)
	}
	return nil
}

// Get opens the file at key; the reader reads the range rng of it.
func (s *Store) Get(ctx context.Context, key string, rng *blob.Range) (io.ReadCloser, blob.Info, error) {
	if err := checkKey("get", key); err != nil {
		return nil, blob.Info{}, err
	}
	f, err := s.root.Open(key)
	if missing(err) {
		return nil, blob.Info{}, fmt.Errorf("fs: get %q: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return nil, blob.Info{}, fmt.Errorf("fs: get %q: %w", key, err)
	}
	fi, err := f.Stat()
	info, err := describe(key, fi, err)
	if err == nil {
		var off, n int64
		if off, n, err = rng.Bounds(info.Size); err == nil {
			return readCloser{io.NewSectionReader(f, off, n), f}, info, nil
		}
	}
	f.Close()
	return nil, blob.Info{}, fmt.Errorf("fs: get %q: %w", key, err)
}

type readCloser struct {
	io.Reader
	io.Closer
}

// describe turns a stat result into Info; anything but a regular file is not a blob.
func describe(key string, fi os.FileInfo, err error) (blob.Info, error) {
	if missing(err) {
		return blob.Info{}, blob.ErrNotFound
	}
	if err != nil {
		return blob.Info{}, err
	}
	if !fi.Mode().IsRegular() {
		return blob.Info{}, blob.ErrNotFound
	}
	return blob.Info{Key: key, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

// Stat describes the file at key.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := checkKey("stat", key); err != nil {
		return blob.Info{}, err
	}
	fi, err := s.root.Stat(key)
	info, err := describe(key, fi, err)
	if err != nil {
		return blob.Info{}, fmt.Errorf("fs: stat %q: %w", key, err)
	}
	return info, nil
}

// Delete removes the file at key and then any directories the removal left empty.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey("delete", key); err != nil {
		return err
	}
	fi, err := s.root.Lstat(key)
	if missing(err) || (err == nil && fi.IsDir()) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fs: delete %q: %w", key, err)
	}
	if err := s.root.Remove(key); err != nil && !missing(err) {
		return fmt.Errorf("fs: delete %q: %w", key, err)
	}
	dir := path.Dir(key)
	if err := s.syncDir(dir); err != nil && !missing(err) {
		return fmt.Errorf("fs: delete %q: %w", key, err)
	}
	s.prune(dir)
	return nil
}

// prune removes dir and its parents for as long as they are empty (removing a non-empty
// directory fails, which ends it), never the root. A concurrent Put recreates them.
func (s *Store) prune(dir string) {
	for d := dir; d != "."; d = path.Dir(d) {
		if s.root.Remove(d) != nil {
			return
		}
	}
}

// List walks the directories that can hold keys with prefix, visiting entries in key
// order. Each directory visited is read and sorted whole.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	dir := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir = prefix[:i]
		if !blob.ValidKey(dir) {
			return nil // no key can start with prefix
		}
	}
	err := s.walk(ctx, dir, prefix, fn)
	if errors.Is(err, blob.ErrStop) {
		return nil
	}
	return err
}

type entry struct {
	key   string
	sort  string // key, plus "/" for directories, so that siblings sort like their keys
	isDir bool
	de    iofs.DirEntry
}

func (s *Store) walk(ctx context.Context, dir, prefix string, fn func(blob.Info) error) error {
	d, err := s.root.Open(dir)
	if missing(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fs: list %q: %w", prefix, err)
	}
	des, err := d.ReadDir(-1)
	d.Close()
	if errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fs: list %q: %w", prefix, err)
	}
	entries := make([]entry, 0, len(des))
	for _, de := range des {
		name := de.Name()
		if !blob.ValidKey(name) { // temporary files and anything not ours
			continue
		}
		key := name
		if dir != "." {
			key = dir + "/" + name
		}
		switch {
		case de.IsDir():
			if strings.HasPrefix(key+"/", prefix) || strings.HasPrefix(prefix, key+"/") {
				entries = append(entries, entry{key: key, sort: key + "/", isDir: true})
			}
		case de.Type().IsRegular():
			if strings.HasPrefix(key, prefix) {
				entries = append(entries, entry{key: key, sort: key, de: de})
			}
		}
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.sort, b.sort) })
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.isDir {
			if err := s.walk(ctx, e.key, prefix, fn); err != nil {
				return err
			}
			continue
		}
		fi, err := e.de.Info()
		if missing(err) {
			continue // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("fs: list %q: %w", prefix, err)
		}
		if err := fn(blob.Info{Key: e.key, Size: fi.Size(), Modified: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}
