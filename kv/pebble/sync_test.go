package pebble

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/w3dag/w3dag/internal/logtest"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/kvtest"
)

// holdFS is the operating system's file system, except that while held, syncs of
// write-ahead log files wait until released, and after a release with an error they fail.
type holdFS struct {
	vfs.FS
	mu      sync.Mutex
	held    chan struct{} // closed on release; nil when syncs pass
	waiting chan struct{} // receives one value each time a sync starts waiting
	err     error         // what syncs return after a failing release
}

func (fs *holdFS) hold() {
	fs.mu.Lock()
	fs.held = make(chan struct{})
	fs.mu.Unlock()
}

func (fs *holdFS) release() { fs.releaseWith(nil) }

// releaseWith releases the held syncs, failing them and every later one with err when it
// is not nil.
func (fs *holdFS) releaseWith(err error) {
	fs.mu.Lock()
	if err != nil {
		fs.err = err
	}
	if fs.held != nil {
		close(fs.held)
		fs.held = nil
	}
	fs.mu.Unlock()
}

func (fs *holdFS) wait() error {
	fs.mu.Lock()
	held := fs.held
	fs.mu.Unlock()
	if held != nil {
		select {
		case fs.waiting <- struct{}{}:
		default:
		}
		<-held
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.err
}

func (fs *holdFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &holdFile{File: f, fs: fs}, nil
}

func (fs *holdFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs *holdFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return fs.wrap(newname, f, err)
}

func (fs *holdFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, c, opts...)
	return fs.wrap(name, f, err)
}

type holdFile struct {
	vfs.File
	fs *holdFS
}

func (f *holdFile) Sync() error {
	if err := f.fs.wait(); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *holdFile) SyncData() error {
	if err := f.fs.wait(); err != nil {
		return err
	}
	return f.File.SyncData()
}

func (f *holdFile) SyncTo(n int64) (bool, error) {
	if err := f.fs.wait(); err != nil {
		return false, err
	}
	return f.File.SyncTo(n)
}

// TestViewDuringSync holds the write-ahead log's fsync while an Update commits: Views
// still run at once and see the state before the Update (a write is not visible before it
// is durable), the next Update builds its batch and reads the syncing one's writes, and
// both Updates return only after the sync, after which Views see them.
func TestViewDuringSync(t *testing.T) {
	fs := &holdFS{FS: vfs.Default, waiting: make(chan struct{}, 1)}
	s := openTemp(t, Options{fs: fs})
	defer s.Close()
	ctx := context.Background()
	if err := s.Update(ctx, func(tx kv.Tx) error { return tx.Put([]byte("a"), []byte("1")) }); err != nil {
		t.Fatal(err)
	}

	fs.hold()
	defer fs.release()
	first := make(chan error, 1)
	go func() {
		first <- s.Update(ctx, func(tx kv.Tx) error { return tx.Put([]byte("a"), []byte("2")) })
	}()
	select {
	case <-fs.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the Update's sync never started")
	}

	viewDone := make(chan struct{})
	go func() {
		defer close(viewDone)
		if v, _ := kvtest.Get(t, s, "a"); v != "1" {
			t.Errorf("View during the sync read a=%q, want the durable 1", v)
		}
	}()
	select {
	case <-viewDone:
	case <-time.After(10 * time.Second):
		t.Fatal("View waited for the sync")
	}

	// The next Update runs its function while the first syncs, reading its write.
	seen := make(chan string, 1)
	second := make(chan error, 1)
	go func() {
		second <- s.Update(ctx, func(tx kv.Tx) error {
			v, err := tx.Get([]byte("a"))
			if err != nil {
				return err
			}
			seen <- string(v)
			return tx.Put([]byte("b"), v)
		})
	}()
	select {
	case v := <-seen:
		if v != "2" {
			t.Fatalf("the next Update read a=%q, want 2", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the next Update did not run while the first synced")
	}
	select {
	case err := <-first:
		t.Fatalf("Update returned before its sync: %v", err)
	case err := <-second:
		t.Fatalf("second Update returned before its sync: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if _, ok := kvtest.Get(t, s, "b"); ok {
		t.Fatal("View sees b before it is durable")
	}

	fs.release()
	for _, c := range []chan error{first, second} {
		select {
		case err := <-c:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Update did not return after the sync")
		}
	}
	if v, _ := kvtest.Get(t, s, "a"); v != "2" {
		t.Fatalf("after the sync a=%q, want 2", v)
	}
	if v, _ := kvtest.Get(t, s, "b"); v != "2" {
		t.Fatalf("after the sync b=%q, want 2", v)
	}
}

// TestReadOnlyUpdateWaitsForSync: an Update that writes nothing but read a write still
// syncing returns only once that write is durable.
func TestReadOnlyUpdateWaitsForSync(t *testing.T) {
	fs := &holdFS{FS: vfs.Default, waiting: make(chan struct{}, 1)}
	s := openTemp(t, Options{fs: fs})
	defer s.Close()
	ctx := context.Background()
	fs.hold()
	defer fs.release()
	first := make(chan error, 1)
	go func() {
		first <- s.Update(ctx, func(tx kv.Tx) error { return tx.Put([]byte("a"), []byte("1")) })
	}()
	<-fs.waiting
	reader := make(chan error, 1)
	go func() {
		reader <- s.Update(ctx, func(tx kv.Tx) error {
			_, err := tx.Get([]byte("a"))
			return err
		})
	}()
	select {
	case err := <-reader:
		t.Fatalf("read-only Update returned before the write it read was durable: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	fs.release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-reader; err != nil {
		t.Fatal(err)
	}
}

func TestContractNoSync(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store { return openTemp(t, Options{NoSync: true}) })
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{file, filepath.Join(dir, "missing", "deeper", "kv") + "\x00"} {
		s, err := Open(path, Options{})
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q) succeeded", path)
		}
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("error %q does not name the path", err)
		}
	}
	// A store in use by another process (or Store) is refused, not shared.
	s := openTemp(t, Options{})
	defer s.Close()
	if s2, err := Open(s.Path(), Options{}); err == nil {
		s2.Close()
		t.Fatal("second Open of a store in use succeeded")
	}
}

func TestCorruptCounter(t *testing.T) {
	s := openTemp(t, Options{})
	defer s.Close()
	if err := s.db.Set([]byte{prefixCounter, 'c'}, []byte{1, 2, 3}, pdb.Sync); err != nil {
		t.Fatal(err)
	}
	s.publish(s.newView(1))
	s.commits = 1
	err := s.View(t.Context(), func(tx kv.Tx) error {
		_, err := tx.Counter([]byte("c"))
		return err
	})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Counter of a 3-byte value: %v, want ErrCorrupt", err)
	}
	err = s.Update(t.Context(), func(tx kv.Tx) error { return tx.Add([]byte("c"), 1) })
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Add to a 3-byte value: %v, want ErrCorrupt", err)
	}
}

// TestOpenLockedByAnotherProcess: a store another process has open is refused with
// ErrLocked, naming the directory. The other process is this test binary run again as
// TestHoldStoreOpen, which opens the store and holds it until its stdin closes.
func TestOpenLockedByAnotherProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kv")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHoldStoreOpen$")
	cmd.Env = append(os.Environ(), "W3DAG_TEST_HOLD_PEBBLE="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "open\n" {
		t.Fatalf("the holding process said %q, %v; want open", line, err)
	}
	s, err := Open(dir, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a store another process has open succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open of a store another process has open: %v; want ErrLocked naming %s", err, dir)
	}
	t.Log(err)
}

// TestHoldStoreOpen is the other process of TestOpenLockedByAnotherProcess: with
// W3DAG_TEST_HOLD_PEBBLE set, it opens that store, says "open" and holds it until stdin
// closes. It does nothing otherwise.
func TestHoldStoreOpen(t *testing.T) {
	dir := os.Getenv("W3DAG_TEST_HOLD_PEBBLE")
	if dir == "" {
		return
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fmt.Println("open")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// TestFailedOnce fails a commit's sync: Failed is nil before and wraps kv.ErrFailed after,
// the failing commit and every later one return errors wrapping it, and the store logs
// its failure once, at error level, however many transactions fail after it.
func TestFailedOnce(t *testing.T) {
	fs := &holdFS{FS: vfs.Default, waiting: make(chan struct{}, 1)}
	logs := &logtest.Counter{}
	s := openTemp(t, Options{fs: fs, Logger: slog.New(logs)})
	ctx := t.Context()
	put := func(k string) func(kv.Tx) error {
		return func(tx kv.Tx) error { return tx.Put([]byte(k), []byte("v")) }
	}
	if err := s.Update(ctx, put("before")); err != nil {
		t.Fatal(err)
	}
	if err := s.Failed(); err != nil {
		t.Fatalf("Failed of a working store: %v", err)
	}
	fs.hold()
	wait, err := s.UpdateApplied(ctx, put("lost"))
	if err != nil {
		t.Fatal(err)
	}
	fs.releaseWith(errors.New("test: no space left on device"))
	if err := wait(); !errors.Is(err, kv.ErrFailed) || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("the failing commit: %v, want kv.ErrFailed with the sync's error", err)
	}
	for i := range 5 {
		if err := s.Update(ctx, put(fmt.Sprint("after", i))); !errors.Is(err, kv.ErrFailed) {
			t.Fatalf("Update %d after the failure: %v, want kv.ErrFailed", i, err)
		}
	}
	if err := s.Failed(); !errors.Is(err, kv.ErrFailed) || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Failed: %v, want kv.ErrFailed with the sync's error", err)
	}
	if got := logs.Count(slog.LevelError); got != 1 {
		t.Errorf("%d records at error level, want 1: %q", got, logs.Messages())
	}
	if err := s.View(ctx, func(tx kv.Tx) error { _, err := tx.Get([]byte("before")); return err }); err != nil {
		t.Errorf("a View of the failed store: %v, want the last durable state", err)
	}
}

// smallFS is the operating system's file system, except that it reports avail bytes free.
type smallFS struct {
	vfs.FS
	avail uint64
}

func (fs smallFS) GetDiskUsage(path string) (vfs.DiskUsage, error) {
	du, err := fs.FS.GetDiskUsage(path)
	du.AvailBytes = fs.avail
	return du, err
}

// TestOpenNoSpace: Open refuses a store whose file system has less free space than
// flushing its write-ahead log needs (on a full disk Pebble would retry that flush for
// ever), saying how much it has and needs; with the space it opens, and nothing is lost.
func TestOpenNoSpace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kv")
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	val := make([]byte, 1<<10)
	for i := range 2048 { // 2 MiB in the write-ahead log, not yet flushed
		if err := s.Update(t.Context(), func(tx kv.Tx) error { return tx.Put([]byte(fmt.Sprint("k", i)), val) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, Options{fs: smallFS{FS: vfs.Default, avail: openSpaceMargin + 1<<20}})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "5.0 MiB free") || !strings.Contains(err.Error(), "free space there") {
		t.Fatalf("Open with 5 MiB free and 2 MiB of log to flush: %v, want ErrNoSpace saying how much is free", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "new"), Options{fs: smallFS{FS: vfs.Default, avail: 1 << 20}}); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Open of a new store with 1 MiB free: %v, want ErrNoSpace", err)
	}
	s, err = Open(dir, Options{fs: smallFS{FS: vfs.Default, avail: openSpaceMargin + 8<<20}})
	if err != nil {
		t.Fatalf("Open with the space it needs: %v", err)
	}
	defer s.Close()
	if err := s.View(t.Context(), func(tx kv.Tx) error { _, err := tx.Get([]byte("k2047")); return err }); err != nil {
		t.Fatalf("the last write before the reopen: %v", err)
	}
}
