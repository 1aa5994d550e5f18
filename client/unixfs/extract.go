package unixfs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	dag "github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	car "github.com/ipld/go-car/v2"
)

const (
	// spoolBufferSize is the write buffer of the file Extract spools verified blocks to.
	spoolBufferSize = 1 << 20
	// DefaultMaxBytes is ExtractOptions.MaxBytes when it is zero (16 GiB): the most bytes
	// of CAR stream Extract reads, and the most bytes of files it writes.
	DefaultMaxBytes = 16 << 30
	// DefaultMaxEntries is ExtractOptions.MaxEntries when it is zero: the most files and
	// directories Extract creates.
	DefaultMaxEntries = 1 << 22
	// MaxBarrenNodes is the most DAG nodes Extract reads in a row without writing a byte
	// or creating a file or directory. Between two leaves an importer's DAG has at most
	// its depth of nodes, so only a crafted DAG comes near it: file nodes holding no
	// bytes that link the same empty node a thousand times, three levels deep, are 10⁹
	// reads from a CAR of four blocks, which would write nothing for hours.
	MaxBarrenNodes = 4096
)

// ExtractOptions bound what Extract reads and writes.
type ExtractOptions struct {
	// MaxBytes bounds the CAR stream read (every byte received, repeated blocks
	// included) and, separately, the bytes of the files written (all files together: a
	// DAG that repeats one block many times is small as a CAR and large on disk). Past
	// either, Extract fails with ErrTooLarge and leaves nothing at out. Zero means
	// DefaultMaxBytes; there is no unlimited setting.
	MaxBytes int64
	// MaxEntries bounds the files and directories created, out itself included: a
	// directory linked many times over is written each time, so a small CAR can name
	// billions of empty files. Past it, Extract fails with ErrTooManyEntries and leaves
	// nothing at out. Zero means DefaultMaxEntries; there is no unlimited setting.
	MaxEntries int64
}

func (o ExtractOptions) maxBytes() int64 {
	if o.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return o.MaxBytes
}

func (o ExtractOptions) maxEntries() int64 {
	if o.MaxEntries <= 0 {
		return DefaultMaxEntries
	}
	return o.MaxEntries
}

// Extract reads the CARv1 stream r (what a trustless gateway answers to
// /ipfs/{root}[/path]?format=car&dag-scope=all), checks every block against its CID as it
// streams (the first block that does not match ends it with ErrBadBlock, naming the
// block), then resolves path (directory entry names, HAMT-sharded directories included)
// from root and writes the file or directory it names at out. Nothing is written at out
// unless everything succeeds: the output is built beside out under a temporary name and
// renamed into place; out must not exist. Verified blocks are spooled to a temporary file
// beside out, so memory stays small whatever the size of the DAG; opts.MaxBytes bounds
// the stream read and the files written (ErrTooLarge).
func Extract(ctx context.Context, r io.Reader, root cid.Cid, path []string, out string, opts ExtractOptions) error {
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("%w: %s", ErrExists, out)
	}
	parent := filepath.Dir(out)
	sp, err := os.CreateTemp(parent, "."+filepath.Base(out)+".w3dag-blocks-*")
	if err != nil {
		return err
	}
	defer func() {
		sp.Close()
		os.Remove(sp.Name())
	}()
	limit := opts.maxBytes()
	b := &budget{left: limit, limit: limit, entriesLeft: opts.maxEntries(), maxEntries: opts.maxEntries()}
	bs := &spool{f: sp, index: map[string]span{}, b: b}
	lr := &limitReader{r: r, left: limit, limit: limit}
	if err := bs.fill(ctx, lr); err != nil {
		if lr.left < 0 { // the CAR reader may not wrap the reader's error
			return lr.exceeded()
		}
		return err
	}
	ds := dag.NewReadOnlyDagService(bs)
	nd, err := ds.Get(ctx, root)
	if err != nil {
		return err
	}
	for i, name := range path {
		dir, err := uio.NewDirectoryFromNode(ds, nd)
		if err != nil {
			return fmt.Errorf("%s: %w", strings.Join(path[:i], "/"), err)
		}
		child, err := dir.Find(ctx, name)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s", ErrNotFound, strings.Join(path[:i+1], "/"))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", strings.Join(path[:i+1], "/"), err)
		}
		nd = child
	}
	tmp, err := write(ctx, ds, nd, parent, "."+filepath.Base(out)+".w3dag-*", b)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return nil
}

// write writes nd as a new file or directory in dir under a name made from pattern
// (os.CreateTemp's) and returns its path; on failure it leaves nothing behind.
func write(ctx context.Context, ds ipld.DAGService, nd ipld.Node, dir, pattern string, b *budget) (string, error) {
	isDir, err := isDirectory(nd)
	if err != nil {
		return "", err
	}
	if err := b.entry(); err != nil {
		return "", err
	}
	if !isDir {
		f, err := os.CreateTemp(dir, pattern)
		if err != nil {
			return "", err
		}
		err = writeFile(ctx, ds, nd, f, b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
			return "", err
		}
		return f.Name(), nil
	}
	d, err := os.MkdirTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	if err := writeDir(ctx, ds, nd, d, b); err != nil {
		os.RemoveAll(d)
		return "", err
	}
	return d, nil
}

// isDirectory reports whether nd is a UnixFS directory (plain or HAMT) rather than a file.
func isDirectory(nd ipld.Node) (bool, error) {
	pn, ok := nd.(*dag.ProtoNode)
	if !ok {
		if _, ok := nd.(*dag.RawNode); ok {
			return false, nil
		}
		return false, fmt.Errorf("%s: not UnixFS (codec %#x)", nd.Cid(), nd.Cid().Type())
	}
	fsn, err := ft.FSNodeFromBytes(pn.Data())
	if err != nil {
		return false, fmt.Errorf("%s: not UnixFS: %w", nd.Cid(), err)
	}
	switch fsn.Type() {
	case ft.TFile, ft.TRaw:
		return false, nil
	case ft.TDirectory, ft.THAMTShard:
		return true, nil
	default:
		return false, fmt.Errorf("%s: UnixFS %s nodes are not supported", nd.Cid(), fsn.Type())
	}
}

func writeFile(ctx context.Context, ds ipld.DAGService, nd ipld.Node, f *os.File, b *budget) error {
	dr, err := uio.NewDagReader(ctx, nd, ds)
	if err != nil {
		return fmt.Errorf("%s: %w", nd.Cid(), err)
	}
	if size := int64(dr.Size()); size > b.left {
		return b.exceeded()
	}
	w := bufio.NewWriterSize(f, spoolBufferSize)
	if _, err := dr.WriteTo(&budgetWriter{w: w, b: b}); err != nil {
		return err
	}
	return w.Flush()
}

// writeDir writes the entries of directory nd into the existing directory d.
func writeDir(ctx context.Context, ds ipld.DAGService, nd ipld.Node, d string, b *budget) error {
	dir, err := uio.NewDirectoryFromNode(ds, nd)
	if err != nil {
		return fmt.Errorf("%s: %w", nd.Cid(), err)
	}
	return dir.ForEachLink(ctx, func(l *ipld.Link) error {
		if err := checkName(l.Name); err != nil {
			return fmt.Errorf("directory %s: %w", nd.Cid(), err)
		}
		child, err := ds.Get(ctx, l.Cid)
		if err != nil {
			return err
		}
		isDir, err := isDirectory(child)
		if err != nil {
			return err
		}
		if err := b.entry(); err != nil {
			return err
		}
		p := filepath.Join(d, l.Name)
		if isDir {
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
			return writeDir(ctx, ds, child, p, b)
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		err = writeFile(ctx, ds, child, f, b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// checkName refuses directory entry names that are not a single path element, so a
// DAG cannot make Extract write outside its output.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || (filepath.Separator != '/' && strings.ContainsRune(name, filepath.Separator)) {
		return fmt.Errorf("unsafe entry name %q", name)
	}
	return nil
}

// span is where a block's bytes are in the spool file.
type span struct{ off, n int64 }

// spool is a read-only blockstore of verified blocks in a temporary file. Each read
// counts against b's run of nodes without output.
type spool struct {
	f     *os.File
	index map[string]span
	size  int64
	b     *budget
}

// fill reads the CAR stream r into the spool, verifying each block against its CID.
func (s *spool) fill(ctx context.Context, r io.Reader) error {
	br, err := car.NewBlockReader(r, car.WithTrustedCAR(true))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotCAR, err)
	}
	if br.Version != 1 {
		return fmt.Errorf("%w: version %d, want CARv1", ErrNotCAR, br.Version)
	}
	w := bufio.NewWriterSize(s.f, spoolBufferSize)
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: block %d: %v", ErrNotCAR, i, err)
		}
		c := b.Cid()
		sum, err := c.Prefix().Sum(b.RawData())
		if err != nil {
			return fmt.Errorf("block %d (%s): %w", i, c, err)
		}
		if !sum.Equals(c) {
			return fmt.Errorf("block %d (%s): %w", i, c, ErrBadBlock)
		}
		if _, ok := s.index[c.KeyString()]; ok {
			continue
		}
		n, err := w.Write(b.RawData())
		if err != nil {
			return err
		}
		s.index[c.KeyString()] = span{off: s.size, n: int64(n)}
		s.size += int64(n)
	}
	return w.Flush()
}

// Get implements the blockstore read dag.NewReadOnlyDagService needs.
func (s *spool) Get(ctx context.Context, c cid.Cid) (ipld.Node, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.b.read(); err != nil {
		return nil, err
	}
	sp, ok := s.index[c.KeyString()]
	if !ok {
		return nil, fmt.Errorf("%s: %w", c, ErrMissingBlock)
	}
	data := make([]byte, sp.n)
	if _, err := s.f.ReadAt(data, sp.off); err != nil {
		return nil, err
	}
	b, err := blocks.NewBlockWithCid(data, c)
	if err != nil {
		return nil, err
	}
	switch c.Type() {
	case cid.DagProtobuf:
		return dag.DecodeProtobufBlock(b)
	case cid.Raw:
		return dag.DecodeRawBlock(b)
	default:
		return nil, fmt.Errorf("%s: codec %#x is not UnixFS", c, c.Type())
	}
}

// GetMany implements ipld.NodeGetter.
func (s *spool) GetMany(ctx context.Context, cs []cid.Cid) <-chan *ipld.NodeOption {
	ch := make(chan *ipld.NodeOption, len(cs))
	for _, c := range cs {
		nd, err := s.Get(ctx, c)
		ch <- &ipld.NodeOption{Node: nd, Err: err}
	}
	close(ch)
	return ch
}

// limitReader is the CAR stream, failing with ErrTooLarge once more than limit bytes
// have been read.
type limitReader struct {
	r           io.Reader
	left, limit int64
}

func (l *limitReader) exceeded() error {
	return fmt.Errorf("%w: the CAR stream is longer than %d bytes", ErrTooLarge, l.limit)
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, l.exceeded()
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1] // one byte past the limit tells a longer stream from one of exactly limit
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, l.exceeded()
	}
	return n, err
}

// budget is what the files written may still hold, how many more files and directories
// may be created, and the run of DAG nodes read since the last byte written or entry
// created (barren is atomic: boxo's readers fetch nodes ahead on goroutines of their own,
// through the spool's GetMany).
type budget struct {
	left, limit             int64
	entriesLeft, maxEntries int64
	barren                  atomic.Int64
}

func (b *budget) exceeded() error {
	return fmt.Errorf("%w: the files would hold more than %d bytes", ErrTooLarge, b.limit)
}

// entry takes one file or directory from the budget.
func (b *budget) entry() error {
	if b.entriesLeft == 0 {
		return fmt.Errorf("%w: more than %d", ErrTooManyEntries, b.maxEntries)
	}
	b.entriesLeft--
	b.barren.Store(0)
	return nil
}

// read counts one DAG node read, failing past MaxBarrenNodes in a row without output.
func (b *budget) read() error {
	if b.barren.Add(1) > MaxBarrenNodes {
		return fmt.Errorf("%w: more than %d DAG nodes in a row hold no bytes and name no entry", ErrMalformed, MaxBarrenNodes)
	}
	return nil
}

// budgetWriter writes to w while b lasts.
type budgetWriter struct {
	w io.Writer
	b *budget
}

func (bw *budgetWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > bw.b.left {
		return 0, bw.b.exceeded()
	}
	bw.b.left -= int64(len(p))
	if len(p) > 0 {
		bw.b.barren.Store(0)
	}
	return bw.w.Write(p)
}
