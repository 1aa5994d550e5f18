package main

// up.go: `w3dag up PATH...`, files and directories in as UnixFS in CAR shards.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/schollz/progressbar/v3"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/client/unixfs"
	"github.com/w3dag/w3dag/machines/store"
)

// defaultUpParallel is how many shards `w3dag up` stores at once by default.
const defaultUpParallel = 2

// upEvent is one line of `w3dag up --json`: a shard stored ("shard") or the upload put
// ("upload"; with --dry-run "dry-run").
type upEvent struct {
	Event  string   `json:"event"`
	N      int      `json:"n,omitempty"`
	CID    string   `json:"cid,omitempty"`
	Size   int64    `json:"size,omitempty"`
	Sent   *bool    `json:"sent,omitempty"`
	Bytes  int64    `json:"bytes"`
	Total  int64    `json:"total"`
	Root   string   `json:"root,omitempty"`
	Shards []string `json:"shards,omitempty"`
	Path   string   `json:"path,omitempty"`
	Status string   `json:"status,omitempty"`
}

// runUp implements `w3dag up PATH... [--space DID] [--shard-size N] [--parallel N]
// [--no-wrap] [--hidden] [--dry-run] [--json] [--progress]`.
func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("up", "usage: w3dag up PATH... [--space DID] [--shard-size BYTES] [--parallel N] [--no-wrap] [--hidden] [--dry-run] [--json]", stderr)
	space := fs.String("space", "", "space DID to store in (default: the current space)")
	shardSize := fs.Int64("shard-size", unixfs.DefaultShardSize, "most bytes of a CAR shard")
	parallel := fs.Int("parallel", defaultUpParallel, "shards stored at once")
	wrap := fs.Bool("wrap", true, "wrap a single file in a directory (as ipfs-car)")
	noWrap := fs.Bool("no-wrap", false, "do not wrap a single file: its root is the file (same as --wrap=false)")
	hidden := fs.Bool("hidden", false, "include files and directories whose names start with '.'")
	dryRun := fs.Bool("dry-run", false, "print the root CID and the shards without storing anything")
	showProgress := fs.Bool("progress", false, "draw the progress bar on stderr even when it is not a terminal")
	pos, code, ok := parseArgs(fs, args, 1, manyArgs)
	if !ok {
		return code
	}
	if *parallel < 1 {
		return fail(stderr, "up", fmt.Errorf("--parallel %d: must be at least 1", *parallel))
	}
	if *shardSize < 1<<20 {
		return fail(stderr, "up", fmt.Errorf("--shard-size %d: must be at least 1 MiB (1048576), the size of a chunk", *shardSize))
	}
	opts := unixfs.Options{NoWrap: *noWrap || !*wrap, Hidden: *hidden, Skipped: func(p string) {
		fmt.Fprintf(stderr, "up: skipped %s: not a regular file or directory (a symbolic link inside a directory is not followed; give it as a path to include it)\n", p)
	}}
	files, err := unixfs.List(pos, opts)
	if err != nil {
		return fail(stderr, "up", err)
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	u := &uploader{stdout: stdout, json: cf.json, total: total, estimate: estimateShards(total, len(files), *shardSize)}
	if *showProgress || isTerminal(stderr) {
		u.bar = newUpBar(stderr, total, u.estimate)
	}
	if *dryRun {
		return u.dryRun(ctx, files, opts, *shardSize, stderr)
	}
	e, err := openEnv(cf, stdout, stderr)
	if err != nil {
		return fail(stderr, "up", err)
	}
	sp, err := e.space(*space)
	if err != nil {
		return fail(stderr, "up", err)
	}
	c, err := e.client(ctx)
	if err != nil {
		return e.fail("up", err)
	}
	u.c, u.hc, u.space, u.parallel = c, newUpHTTPClient(), sp, *parallel
	root, shards, err := u.run(ctx, files, opts, *shardSize)
	if err != nil {
		return fail(stderr, "up", err)
	}
	path := "/" + sp + "/upload/" + root.String()
	value, err := uploadValue(root, shards)
	if err != nil {
		return fail(stderr, "up", err)
	}
	r, err := c.Put(ctx, path, value)
	if err != nil {
		return e.fail("up", fmt.Errorf("put %s: %w", path, err))
	}
	u.bar.finish()
	if cf.json {
		ev := upEvent{Event: "upload", Root: root.String(), Path: path, Status: r.Status(), Bytes: total, Total: total}
		for _, s := range shards {
			ev.Shards = append(ev.Shards, s.String())
		}
		u.emit(ev)
	} else {
		fmt.Fprintln(stdout, root)
	}
	return 0
}

// estimateShards is how many shards total file bytes make, counting the DAG's own
// nodes generously; the progress bar shows it until the real count is known.
func estimateShards(total int64, files int, shardSize int64) int {
	car := total + total/(1<<20)*48 + int64(files)*200 + 1024
	n := int((car + shardSize - 1) / shardSize)
	return max(n, 1)
}

// uploader packs and stores the shards of one `w3dag up`.
type uploader struct {
	c        *client.Client
	hc       *http.Client
	space    string
	parallel int
	stdout   io.Writer
	json     bool
	bar      *upBar
	total    int64
	estimate int

	mu   sync.Mutex
	done int64 // file bytes in stored shards
}

func (u *uploader) emit(ev upEvent) {
	u.mu.Lock()
	defer u.mu.Unlock()
	b, _ := json.Marshal(ev)
	fmt.Fprintln(u.stdout, string(b))
}

// dryRun imports and cuts shards without keeping or sending them, and prints the root.
func (u *uploader) dryRun(ctx context.Context, files []unixfs.File, opts unixfs.Options, shardSize int64, stderr io.Writer) int {
	var shards []string
	var done int64
	s := unixfs.NewSharder("", shardSize, func(sh unixfs.Shard) error {
		shards = append(shards, sh.CID.String())
		done += sh.Data
		u.bar.shard(sh.Data)
		if u.json {
			u.emit(upEvent{Event: "shard", N: sh.N, CID: sh.CID.String(), Size: sh.Size, Bytes: done, Total: u.total})
		}
		return nil
	})
	root, err := unixfs.Import(ctx, files, opts, s.Add)
	if err == nil {
		err = s.Close()
	}
	if err != nil {
		return fail(stderr, "up", err)
	}
	u.bar.finish()
	if u.json {
		u.emit(upEvent{Event: "dry-run", Root: root.String(), Shards: shards, Bytes: u.total, Total: u.total})
	} else {
		fmt.Fprintln(u.stdout, root)
	}
	return 0
}

// run imports files into shards while u.parallel workers store the finished ones. A
// shard is kept as a view (unixfs.NewViewSharder): its CAR framing and the DAG's own
// nodes in memory, its file bytes read again from the files when it is sent, so nothing
// is spooled to disk and memory holds no file bytes beyond the import's own. It returns
// the root and the shard CIDs in order. A shard the service holds already (an earlier,
// interrupted run) is not sent again.
func (u *uploader) run(ctx context.Context, files []unixfs.File, opts unixfs.Options, shardSize int64) (cid.Cid, []cid.Cid, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	queue := make(chan unixfs.Shard)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		stored = map[int]cid.Cid{}
	)
	for range u.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sh := range queue {
				if err := u.store(ctx, sh); err != nil {
					cancel(err)
				}
				mu.Lock()
				stored[sh.N] = sh.CID
				mu.Unlock()
			}
		}()
	}
	s := unixfs.NewViewSharder(shardSize, func(sh unixfs.Shard) error {
		select {
		case queue <- sh:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	root, err := unixfs.Import(ctx, files, opts, s.Add)
	if err == nil {
		err = s.Close()
	} else {
		s.Abort()
	}
	close(queue)
	wg.Wait()
	if cerr := context.Cause(ctx); cerr != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = cerr
	}
	if err != nil {
		return cid.Undef, nil, err
	}
	shards := make([]cid.Cid, len(stored))
	for n, c := range stored {
		shards[n-1] = c
	}
	return root, shards, nil
}

// changedHint adds to err, a shard's failed PUT, the hint that a file may have changed
// when that is what it says. The shard's bytes are read from the files again: a file that
// got shorter since the import fails the read (unixfs.ErrFileChanged); one whose bytes
// changed is refused by the receiver as bytes that are not the shard's (digestMismatch).
func changedHint(err error) error {
	if errors.Is(err, unixfs.ErrFileChanged) || digestMismatch(err) {
		return fmt.Errorf("%w (a file changed while it was uploaded?)", err)
	}
	return err
}

// digestMismatch reports whether err is a receiver's refusal of uploaded bytes as not the
// signed ones: a 400 whose message names blob.ErrDigestMismatch or blob.ErrSizeMismatch
// (the service's PUT /blob), or S3's BadDigest error (a presigned PUT signs the
// sha256). Any other 400 (a body cut short, a bad parameter) is not a changed file.
func digestMismatch(err error) bool {
	var he *client.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusBadRequest {
		return false
	}
	for _, says := range []string{blob.ErrDigestMismatch.Error(), blob.ErrSizeMismatch.Error(), "<Code>BadDigest</Code>"} {
		if strings.Contains(he.Message, says) {
			return true
		}
	}
	return false
}

// store stores one shard and reports it.
func (u *uploader) store(ctx context.Context, sh unixfs.Shard) error {
	send := func(ctx context.Context, req blob.Request) error {
		body, err := sh.NewReader()
		if err != nil {
			return err
		}
		defer body.Close()
		return changedHint(putBytes(ctx, u.hc, req, body))
	}
	res, err := storeSend(ctx, u.c, u.space, send, sh.CID, sh.Size)
	if err != nil {
		return fmt.Errorf("shard %d (%s): %w", sh.N, sh.CID, err)
	}
	if st := res.Receipt.Status(); st != store.StatusDone {
		return fmt.Errorf("shard %d (%s) ended %s, not done", sh.N, sh.CID, st)
	}
	u.mu.Lock()
	u.done += sh.Data
	done := u.done
	u.mu.Unlock()
	u.bar.shard(sh.Data)
	if u.json {
		sent := res.Uploaded
		u.emit(upEvent{Event: "shard", N: sh.N, CID: sh.CID.String(), Size: sh.Size, Sent: &sent, Bytes: done, Total: u.total})
	}
	return nil
}

// newUpHTTPClient is the HTTP client of `w3dag up`'s PUTs: http.DefaultTransport's
// settings, over connections (shardConn) that send a shard's file bytes with sendfile.
func newUpHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: upDialTimeout, KeepAlive: upDialTimeout}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok && err == nil {
			return shardConn{tc}, nil
		}
		return c, err
	}
	return &http.Client{Transport: t}
}

// upDialTimeout bounds connecting to the upload URL (and is the TCP keep-alive period),
// as http.DefaultTransport's dialer.
const upDialTimeout = 30 * time.Second

// shardConn is a TCP connection whose ReadFrom hands a request body that can write
// itself (a view shard's reader: unixfs.Shard.NewReader) the connection, so each file
// range is sent with sendfile and the CAR framing with Write. net/http copies a body of
// known length to the connection as io.Copy of an io.LimitedReader, which would read the
// file bytes into a 32 KiB buffer and send them in as many small writes.
type shardConn struct{ *net.TCPConn }

// sizedWriterTo is a body that writes itself and knows how much of it is left.
type sizedWriterTo interface {
	io.WriterTo
	Remaining() int64
}

func (c shardConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if wt, ok := lr.R.(sizedWriterTo); ok && wt.Remaining() == lr.N {
			n, err := wt.WriteTo(c.TCPConn)
			lr.N -= n
			return n, err
		}
	}
	return c.TCPConn.ReadFrom(r)
}

// uploadValue is the upload entry's value {root, shards}.
func uploadValue(root cid.Cid, shards []cid.Cid) (datamodel.Node, error) {
	return qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "root", qp.Link(cidlink.Link{Cid: root}))
		qp.MapEntry(ma, "shards", qp.List(int64(len(shards)), func(la datamodel.ListAssembler) {
			for _, s := range shards {
				qp.ListEntry(la, qp.Link(cidlink.Link{Cid: s}))
			}
		}))
	})
}

// upBar is the progress bar of `w3dag up`: file bytes in stored shards, rate, ETA and
// "shard n/m" (m an estimate until the last shard). A nil *upBar draws nothing.
type upBar struct {
	mu       sync.Mutex
	bar      *progressbar.ProgressBar
	n        int
	estimate int
	done     int64
}

func newUpBar(w io.Writer, total int64, estimate int) *upBar {
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(progressInterval),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionSetDescription(fmt.Sprintf("shard 0/%d", estimate)),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		progressbar.OptionSetRenderBlankState(true),
	)
	return &upBar{bar: bar, estimate: estimate}
}

func (b *upBar) shard(data int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	b.done += data
	b.estimate = max(b.estimate, b.n)
	b.bar.Describe(fmt.Sprintf("shard %d/%d", b.n, b.estimate))
	_ = b.bar.Add64(data)
}

func (b *upBar) finish() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bar.Describe(fmt.Sprintf("shard %d/%d", b.n, b.n))
	_ = b.bar.Finish()
}
