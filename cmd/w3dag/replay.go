package main

// replay.go: `w3dag replay` rebuilds a store from the message archive; `w3dag verify`
// compares a rebuilt store with a live one. The engine and ops they drive are put together
// by openReplay in wire.go.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"time"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/archive/replay"
	"github.com/w3dag/w3dag/blob"
	blobfs "github.com/w3dag/w3dag/blob/fs"
	"github.com/w3dag/w3dag/blob/s3"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/store"
	"github.com/w3dag/w3dag/ops"
)

// replayFlags are the flags shared by replay and verify: the archive, the target store
// and the configuration of the original service that shapes states.
type replayFlags struct {
	archive string
	c       serveConfig
	key     string
	// progress draws the progress bar on stderr even when it is not a terminal.
	progress bool
}

func (f *replayFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.progress, "progress", false, "draw the progress bar on stderr even when it is not a terminal (otherwise a line every 30s)")
	fs.StringVar(&f.archive, "archive", "", "the archive to replay: a blob folder of the original service (DATA/blobs) or an S3 URL as --s3-url takes it")
	fs.StringVar(&f.c.data, "data", "", "folder of the rebuilt store (pebble w3dag.pebble/ or bolt w3dag.db; holds service.key and, with fs blobs, blob.secret of the original service)")
	fs.StringVar(&f.c.kv, "kv", "", "kv backend of the rebuilt store: pebble or bolt (in --data) or a postgres:// URL (an empty schema) (default: what --data holds, pebble for a new folder)")
	fs.StringVar(&f.c.pgSchema, "postgres-schema", "", "PostgreSQL schema of the rebuilt store (default public)")
	fs.StringVar(&f.key, "key", "", "the original service's key file (default service.key in --data)")
	fs.StringVar(&f.c.publicURL, "public-url", "", "--public-url of the original service (upload URLs and locations in states name it)")
	fs.StringVar(&f.c.blob, "blob", "fs", "--blob of the original service: fs or s3 (locations in carwhere states depend on it)")
	fs.StringVar(&f.c.s3URL, "s3-url", "", "--s3-url of the original service (with --blob s3)")
	fs.Var(&f.c.schemas, "schema", "schema extension files of the original service (repeatable; default: those the archive recorded)")
	fs.Int64Var(&f.c.maxBlobSize, "max-blob-size", store.MaxBlobSize, "--max-blob-size of the original service")
	fs.DurationVar(&f.c.uploadTTL, "upload-url-ttl", store.DefaultUploadURLTTL, "--upload-url-ttl of the original service")
	f.c.aggMin, f.c.aggMax = aggregate.DefaultMin, aggregate.DefaultMax
	fs.Var(&f.c.aggMin, "aggregate-min", "--aggregate-min of the original service")
	fs.Var(&f.c.aggMax, "aggregate-max", "--aggregate-max of the original service")
	fs.BoolVar(&f.c.publicReads, "public-service-reads", true, "--public-service-reads of the original service")
	fs.StringVar(&f.c.broker, "broker", "", "--broker of the original service (whether it made offers shapes aggregate receipts and computed pieces; no offer is made again)")
	fs.IntVar(&f.c.messageWork, "message-work", ops.DefaultMessageWork, "--message-work of the original service")
	fs.IntVar(&f.c.messageProofs, "message-proofs", ops.DefaultMessageProofs, "--message-proofs of the original service")
	fs.IntVar(&f.c.selectPageBytes, "select-page-bytes", dag.DefaultSelectPageBytes, "--select-page-bytes of the original service")
	fs.IntVar(&f.c.messageReplyBytes, "message-reply-bytes", ops.DefaultMessageReplyBytes, "--message-reply-bytes of the original service")
}

// check validates the flags; the error is a usage error.
func (f *replayFlags) check() error {
	switch {
	case f.archive == "":
		return errors.New("--archive is required")
	case f.c.data == "":
		return errors.New("--data is required")
	case f.c.publicURL == "":
		return errors.New("--public-url is required: the original service's URL (upload URLs and locations name it)")
	}
	kind, pgURL, err := resolveKV(f.c)
	if err != nil {
		return err
	}
	if kind != "pebble" && kind != "bolt" && kind != "postgres" {
		return fmt.Errorf("--kv %q: want pebble, bolt or a postgres:// URL", f.c.kv)
	}
	f.c.kv, f.c.postgresURL = kind, pgURL
	if f.key == "" {
		f.key = filepath.Join(f.c.data, serviceKeyFile)
	}
	f.c.publicURL = strings.TrimSuffix(f.c.publicURL, "/")
	if f.c.blob == "fs" && !strings.HasPrefix(f.archive, "http://") && !strings.HasPrefix(f.archive, "https://") {
		// The original's fs blobs are its archive's folder: the CARs are read from
		// there, and its carwhere locations name that folder.
		f.c.blobsFolder = filepath.Clean(f.archive)
	}
	return nil
}

// openArchive opens the blob store an archive is in: a folder or an S3 URL.
func openArchive(ctx context.Context, where string) (blob.Store, func(), error) {
	if strings.HasPrefix(where, "http://") || strings.HasPrefix(where, "https://") {
		opts, err := s3.ParseURL(where)
		if err != nil {
			return nil, nil, fmt.Errorf("--archive: %w", err)
		}
		s, err := s3.Open(ctx, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("--archive: %w", err)
		}
		return s, func() { s.Close() }, nil
	}
	if _, err := os.Stat(where); err != nil {
		return nil, nil, fmt.Errorf("--archive: %w", err)
	}
	s, err := blobfs.Open(where, blobfs.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("--archive: %w", err)
	}
	return s, func() { s.Close() }, nil
}

// replayClock is the clock of a replay: the time of the receipt being reproduced.
type replayClock struct{ ms atomic.Int64 }

func (c *replayClock) Now() time.Time  { return time.UnixMilli(c.ms.Load()) }
func (c *replayClock) Set(t time.Time) { c.ms.Store(t.UnixMilli()) }
func (c *replayClock) String() string  { return c.Now().UTC().Format(time.RFC3339Nano) }

// doReplay rebuilds f.c.data's store from the archive and returns what it did, with its
// progress on stderr.
func doReplay(ctx context.Context, f *replayFlags, stdout, stderr io.Writer) (replay.Result, *replay.Plan, error) {
	blobs, closeArchive, err := openArchive(ctx, f.archive)
	if err != nil {
		return replay.Result{}, nil, err
	}
	defer closeArchive()
	rs, err := openReplay(ctx, f.c, f.key, blobs)
	if err != nil {
		return replay.Result{}, nil, err
	}
	defer rs.close()
	bar := f.progress || isTerminal(stderr)
	if bar {
		fmt.Fprintf(stderr, "reading the archive in %s…\n", f.archive)
	}
	start := time.Now()
	plan, err := replay.Load(ctx, blobs, rs.engine.Service(), rs.place)
	if err != nil {
		return replay.Result{}, nil, fmt.Errorf("reading the archive: %w", err)
	}
	rs.setPlan(plan)
	loaded := time.Since(start)
	defer replayGC()()
	progress := newReplayProgress(stderr, len(plan.Steps), bar, time.Now)
	res, err := replay.Run(ctx, plan, replay.Options{
		OnStep:   progress.step,
		Runner:   rs.ops,
		Store:    rs.engine,
		SetClock: rs.clock.Set,
		Handlers: rs.handlers,
		Alone:    rs.alone,
		Again:    rs.again,
		Before:   rs.before,
		After:    rs.after,
	})
	progress.finish()
	if err != nil {
		return res, plan, err
	}
	if err := rs.sync(); err != nil {
		return res, plan, err
	}
	took := time.Since(start)
	rate := float64(res.Steps) / max(took.Seconds()-loaded.Seconds(), 1e-9)
	st := rs.engine.Stats()
	fmt.Fprintf(stdout, "replayed %d invocations of %d messages into %s (%d run now, %d the same receipt, %d different, %d placed; %d transactions) in %s (%.0f invocations/s after reading the archive in %s)\n",
		len(plan.Steps), plan.Messages, f.c.data, res.Steps, res.Same, res.Differ, res.Placed, st.Commits, took.Round(time.Millisecond), rate, loaded.Round(time.Millisecond))
	if len(plan.Unanswered) > 0 {
		fmt.Fprintf(stdout, "%d archived invocations have no archived reply and were not run (the service's own are made again by the operations that issued them; first: %s)\n", len(plan.Unanswered), plan.Unanswered[0].CID)
	}
	return res, plan, nil
}

// replayHeapHeadroom is how much heap a replay lets garbage take beyond what is live
// (the plan and the store's caches) before it collects. A replay allocates for every
// invocation it runs again and keeps the plan: at Go's default (GOGC=100, a collection
// each time the heap has doubled) collections take about a tenth of its CPU. With GOGC
// unset, replayGC raises the GC percent so that the heap may grow to the live heap plus
// this much, and never lowers it below the default: a plan larger than the headroom
// collects as at the default.
const replayHeapHeadroom = 256 << 20

// replayGC sets the GC percent of a replay whose plan is loaded (replayHeapHeadroom) and
// returns what restores the one before. It leaves it alone when GOGC is set.
func replayGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	runtime.GC() // the live heap: the plan, once Load's garbage is gone
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	percent := 100
	if sample[0].Value.Kind() == metrics.KindUint64 {
		if live := sample[0].Value.Uint64(); live > 0 {
			percent = max(percent, int(min(replayHeapHeadroom*100/live, math.MaxInt32)))
		}
	}
	old := debug.SetGCPercent(percent)
	return func() { debug.SetGCPercent(old) }
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("w3dag replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f replayFlags
	f.register(fs)
	if _, code, ok := parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	if err := f.check(); err != nil {
		return usageError(stderr, "replay", "%v", err)
	}
	res, _, err := doReplay(ctx, &f, stdout, stderr)
	if err != nil {
		return fail(stderr, "replay", err)
	}
	code := 0
	if res.Unhandled > 0 {
		fmt.Fprintf(stderr, "w3dag replay: %d of the service's own invocations were not run (replay does not reproduce them yet); first: %s\n", res.Unhandled, res.FirstUnhandled)
		code = 1
	}
	if res.Differ > 0 {
		fmt.Fprintf(stderr, "w3dag replay: %d receipts differ from the archived replies; first: %s\n", res.Differ, res.FirstDiff)
		code = 1
	}
	return code
}

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("w3dag verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f replayFlags
	f.register(fs)
	var against, againstKV string
	fs.StringVar(&against, "against", "", "data folder of the live service to compare with (its kv store; stop the service first with pebble or bolt)")
	fs.StringVar(&againstKV, "against-kv", "", "the live store's --kv when it is not what the folder holds (a postgres:// URL)")
	if _, code, ok := parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	if against == "" {
		return usageError(stderr, "verify", "--against is required: the live service's data folder")
	}
	if strings.HasPrefix(against, "http://") || strings.HasPrefix(against, "https://") {
		return usageError(stderr, "verify", "--against %s: comparing with a running service over HTTP is not supported yet; give its data folder (or its postgres:// URL with --against-kv)", against)
	}
	tmp := ""
	if f.c.data == "" {
		dir, err := os.MkdirTemp("", "w3dag-verify-")
		if err != nil {
			return fail(stderr, "verify", err)
		}
		tmp = dir
		defer os.RemoveAll(tmp)
		f.c.data = dir
		if f.key == "" {
			f.key = filepath.Join(against, serviceKeyFile)
		}
		if err := copySecret(filepath.Join(against, blobSecretFile), filepath.Join(dir, blobSecretFile)); err != nil {
			return fail(stderr, "verify", err)
		}
	}
	if err := f.check(); err != nil {
		return usageError(stderr, "verify", "%v", err)
	}
	if err := flushOutbox(ctx, f.archive, against, againstKV); err != nil {
		return fail(stderr, "verify", err)
	}
	res, _, err := doReplay(ctx, &f, stdout, stderr)
	if err != nil {
		return fail(stderr, "verify", err)
	}
	live, err := openLive(ctx, against, againstKV)
	if err != nil {
		return fail(stderr, "verify", err)
	}
	defer live.Close()
	rebuilt, err := openRebuilt(ctx, f.c)
	if err != nil {
		return fail(stderr, "verify", err)
	}
	defer rebuilt.Close()
	d, err := replay.Compare(ctx, live, rebuilt)
	if err != nil {
		return fail(stderr, "verify", err)
	}
	if d != nil {
		fmt.Fprintf(stdout, "first difference: %s\n", d)
		return 1
	}
	if res.Differ > 0 {
		fmt.Fprintf(stdout, "first difference: %s\n", res.FirstDiff)
		return 1
	}
	if res.Unhandled > 0 {
		fmt.Fprintf(stdout, "not compared: %d of the service's own invocations were not replayed; first: %s\n", res.Unhandled, res.FirstUnhandled)
		return 1
	}
	fmt.Fprintln(stdout, "identical")
	return 0
}

// flushOutbox moves the messages the live service left in its kv outbox (its archive mover
// had not moved them when it stopped) into the archive's blob storage, as its mover would.
func flushOutbox(ctx context.Context, where, live, liveKV string) error {
	blobs, closeArchive, err := openArchive(ctx, where)
	if err != nil {
		return err
	}
	defer closeArchive()
	kvs, err := openLive(ctx, live, liveKV)
	if err != nil {
		return err
	}
	defer kvs.Close()
	a := archive.New(blobs, archive.Options{Outbox: kvs})
	defer a.Close()
	if _, err := a.Flush(ctx); err != nil {
		return fmt.Errorf("moving the live service's outbox to the archive: %w", err)
	}
	return nil
}

// copySecret copies the upload-URL secret of the live folder into a temporary rebuild
// folder (a missing one is not copied: the original ran without fs blobs).
func copySecret(from, to string) error {
	b, err := os.ReadFile(from)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}
