package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/message"
)

const (
	// LeafBufferSize is the size of the pooled buffers a file's large raw leaves are read
	// into: the UnixFS chunk of `w3dag up` and the incumbent's clients (1 MiB). A larger
	// leaf gets a buffer of its own.
	LeafBufferSize = 1 << 20
	// ReadAhead is how many chunks a file response reads ahead of what it has sent (a
	// deserialized response's chunk is a leaf; a CAR's are a leaf's section header and
	// then its bytes, so a CAR reads about one leaf ahead): one goroutine reads and checks
	// them while the response is written, so a file response holds at most ReadAhead+2
	// leaf buffers (those queued, the one being read, the one being sent).
	ReadAhead = 2
)

// leafBuffers are the LeafBufferSize buffers of raw leaves being read or sent.
var leafBuffers = sync.Pool{New: func() any {
	b := make([]byte, LeafBufferSize)
	return &b
}}

// fileBackend is boxo's BlocksBackend, except for a UnixFS file with a dag-pb root asked
// for whole: a deserialized GET with no Range, and a CAR of /ipfs/{root} with
// dag-scope=all or entity and no entity-bytes. Those stream the file's DAG: its raw
// leaves larger than CacheMaxBlock are read into pooled buffers and copied out, instead
// of each becoming a fresh block (three copies of it, for a CAR) that boxo holds until
// the garbage collector frees it — 1 GiB of garbage or more for a 1 GiB file, which set
// the server's peak memory (docs/PERFORMANCE.md, "Server peak RSS"). HEAD of such a file
// is the backend's too. Everything else — ranges, entity-bytes, dag-scope=block, paths
// below the root in a CAR, directories, raw roots — is boxo's.
type fileBackend struct {
	*gateway.BlocksBackend
	bs *Blockstore
}

// Get answers a whole UnixFS file with a fileReader, anything else as boxo does. A file
// whose DAG fails before its first byte is Get's error (ErrMalformed is a 422), not a
// response boxo would fail with a 500 while it sniffs the content type.
func (fb *fileBackend) Get(ctx context.Context, p path.ImmutablePath, ranges ...gateway.ByteRange) (gateway.ContentPathMetadata, *gateway.GetResponse, error) {
	if len(ranges) == 0 {
		if md, r, ok := fb.file(ctx, p, ReadAhead); ok {
			if err := r.first(); err != nil {
				r.Close()
				return md, nil, err
			}
			return md, gateway.NewGetResponseFromReader(r, int64(r.size)), nil
		}
	}
	return fb.BlocksBackend.Get(ctx, p, ranges...)
}

// Head answers a UnixFS file with a dag-pb root with its size and a fileReader of its
// first bytes (boxo sniffs the content type from them), reading no leaf ahead; anything
// else as boxo does. Like Get, a file whose DAG fails before its first byte is Head's
// error: boxo's own reader would walk a DAG of nodes holding no bytes for as long as the
// client waits.
func (fb *fileBackend) Head(ctx context.Context, p path.ImmutablePath) (gateway.ContentPathMetadata, *gateway.HeadResponse, error) {
	if md, r, ok := fb.file(ctx, p, 0); ok {
		if err := r.first(); err != nil {
			r.Close()
			return md, nil, err
		}
		return md, gateway.NewHeadResponseForFile(r, int64(r.size)), nil
	}
	return fb.BlocksBackend.Head(ctx, p)
}

// GetCAR answers a CAR of a whole UnixFS file (the path is /ipfs/{root}, dag-scope=all,
// or entity, which for a file is the same blocks; no entity-bytes) with a fileReader
// writing the CAR boxo would: a CARv1 header naming the root, then the file's blocks
// depth-first in link order, each once unless duplicates are asked for. Anything else is boxo's, but for a path below the root that
// does not resolve (no such name in a directory, a path below a file): boxo answers it
// with a CAR of the blocks it walked under an empty identity root (a 200), GetCAR with
// the resolver's error naming the missing segment, which boxo answers 404. Boxo resolves
// the path once; only a path that does not resolve is resolved again, for that error.
func (fb *fileBackend) GetCAR(ctx context.Context, p path.ImmutablePath, params gateway.CarParams) (gateway.ContentPathMetadata, io.ReadCloser, error) {
	if params.Range == nil && (params.Scope == gateway.DagScopeAll || params.Scope == gateway.DagScopeEntity) && len(p.Segments()) == 2 {
		if md, r, ok := fb.carOf(ctx, p, params.Duplicates.Bool()); ok {
			return md, r, nil
		}
	}
	md, r, err := fb.BlocksBackend.GetCAR(ctx, p, params)
	if err != nil || len(p.Segments()) <= 2 || md.PathSegmentRoots != nil {
		return md, r, err
	}
	// Only boxo's answer to a path that does not resolve has no segment roots.
	r.Close()
	_, err = fb.ResolvePath(ctx, p)
	return gateway.ContentPathMetadata{}, nil, missingPathErr(p, err)
}

// missingPathErr is GetCAR's error for a path boxo could not resolve (its CAR has no
// segment roots), from err, what resolving p again returned: the resolver's not-found
// error as it is (boxo answers 404 naming the missing segment); any other failure (a
// block that could not be read, ctx ending) wrapped as it is, which boxo answers as
// such (5xx), not as a 404; and nil (blocks stored since boxo's try) a not-found
// naming p.
func missingPathErr(p path.ImmutablePath, err error) error {
	switch {
	case notFound(err):
		return err
	case err != nil:
		return fmt.Errorf("gateway: resolving %s for its CAR: %w", p, err)
	default:
		return fmt.Errorf("%w: %s did not resolve when its CAR was asked for", ipld.ErrNotFound{}, p)
	}
}

// file resolves p and, when it names a UnixFS file with a dag-pb root, returns its
// metadata and a reader of its bytes, reading at most readAhead chunks ahead. Anything
// else (including any error, which boxo then meets and answers itself) is not ok.
func (fb *fileBackend) file(ctx context.Context, p path.ImmutablePath, readAhead int) (gateway.ContentPathMetadata, *fileReader, bool) {
	md, _, fsn, links, ok := fb.fileRoot(ctx, p)
	if !ok {
		return md, nil, false
	}
	if mt := fsn.ModTime(); !mt.IsZero() {
		md.ModTime = mt
	}
	return md, newFileReader(ctx, fb.bs, fsn, links, readAhead), true
}

// carOf is file's CAR twin: for p naming a UnixFS file with a dag-pb root, its metadata
// and a reader of the CAR of its DAG (dups: with duplicate blocks).
func (fb *fileBackend) carOf(ctx context.Context, p path.ImmutablePath, dups bool) (gateway.ContentPathMetadata, *fileReader, bool) {
	md, root, _, _, ok := fb.fileRoot(ctx, p)
	if !ok {
		return md, nil, false
	}
	header, err := message.EncodeCAR([]cid.Cid{root}, nil)
	if err != nil {
		return md, nil, false
	}
	return md, newCARReader(ctx, fb.bs, root, header, dups), true
}

// fileRoot resolves p and, when it names a UnixFS file with a dag-pb root, returns its
// metadata, the root's CID, UnixFS data and links. Anything else (including any error,
// which boxo then meets and answers itself) is not ok.
func (fb *fileBackend) fileRoot(ctx context.Context, p path.ImmutablePath) (gateway.ContentPathMetadata, cid.Cid, *unixfs.FSNode, []cid.Cid, bool) {
	md, err := fb.ResolvePath(ctx, p)
	if err != nil {
		return md, cid.Undef, nil, nil, false
	}
	root := md.LastSegment.RootCid()
	if root.Prefix().Codec != cid.DagProtobuf {
		return md, cid.Undef, nil, nil, false
	}
	fsn, links, err := fb.bs.fileNode(ctx, root)
	if err != nil || (fsn.Type() != unixfs.TFile && fsn.Type() != unixfs.TRaw) {
		return md, cid.Undef, nil, nil, false
	}
	return md, root, fsn, links, true
}

// fileNode reads and decodes the dag-pb UnixFS node c: its UnixFS data and its links.
func (b *Blockstore) fileNode(ctx context.Context, c cid.Cid) (*unixfs.FSNode, []cid.Cid, error) {
	pn, _, err := b.protoNode(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	fsn, err := unixfs.FSNodeFromBytes(pn.Data())
	if err != nil {
		return nil, nil, malformed("%s: %w", c, err)
	}
	return fsn, linkCIDs(pn), nil
}

// protoNode reads and decodes the dag-pb node c, and returns its block's bytes too.
func (b *Blockstore) protoNode(ctx context.Context, c cid.Cid) (*merkledag.ProtoNode, []byte, error) {
	blk, err := b.Get(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	pn, err := merkledag.DecodeProtobuf(blk.RawData())
	if err != nil {
		return nil, nil, malformed("%s: %w", c, err)
	}
	return pn, blk.RawData(), nil
}

// linkCIDs returns the CIDs pn links to, in order.
func linkCIDs(pn *merkledag.ProtoNode) []cid.Cid {
	links := make([]cid.Cid, len(pn.Links()))
	for i, l := range pn.Links() {
		links[i] = l.Cid
	}
	return links
}

// chunk is a piece of a file's bytes, in order. buf, when not nil, is the pooled buffer
// data lies in, returned to leafBuffers once data has been copied out.
type chunk struct {
	data []byte
	buf  *[]byte
	err  error
}

// free returns c's pooled buffer, if it has one, to leafBuffers.
func (c chunk) free() {
	if c.buf != nil {
		leafBuffers.Put(c.buf)
	}
}

// fileReader reads a UnixFS file, or the CAR of its DAG: a goroutine walks the file's DAG
// depth-first, reads each leaf (checked against its CID) and queues the bytes, at most
// ReadAhead chunks ahead of Read, which copies them out. The bytes of a pooled buffer are
// never handed on (Read copies them), so the buffer is reused once they are copied.
type fileReader struct {
	sized  bool // a file's bytes, whose size the root gives; false for a CAR
	size   uint64
	chunks chan chunk
	cancel context.CancelFunc
	done   chan struct{} // closed when the walk has ended

	cur  chunk
	off  int
	sent uint64
	err  error
}

// newFileReader returns a reader of the bytes of the file whose root node is root.
func newFileReader(ctx context.Context, bs *Blockstore, root *unixfs.FSNode, links []cid.Cid, readAhead int) *fileReader {
	r := startReader(ctx, func(ctx context.Context, w *walker) error {
		return w.emitNode(ctx, root, links, 0)
	}, bs, readAhead)
	r.sized, r.size = true, root.FileSize()
	return r
}

// newCARReader returns a reader of the CAR of the DAG below root: header, then each block
// (once, unless dups) in depth-first order.
func newCARReader(ctx context.Context, bs *Blockstore, root cid.Cid, header []byte, dups bool) *fileReader {
	return startReader(ctx, func(ctx context.Context, w *walker) error {
		w.car = true
		if !dups {
			w.seen = map[cid.Cid]bool{}
		}
		if !w.send(ctx, chunk{data: header}) {
			return ctx.Err()
		}
		return w.emitBlock(ctx, root, 0)
	}, bs, ReadAhead)
}

// startReader starts walk on a goroutine of its own, queueing at most readAhead chunks
// for the reader.
func startReader(ctx context.Context, walk func(context.Context, *walker) error, bs *Blockstore, readAhead int) *fileReader {
	ctx, cancel := context.WithCancel(ctx)
	r := &fileReader{
		chunks: make(chan chunk, readAhead),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go func() {
		defer close(r.done)
		defer close(r.chunks)
		w := &walker{bs: bs, out: r.chunks}
		if err := walk(ctx, w); err != nil {
			w.send(ctx, chunk{err: err})
		}
	}()
	return r
}

// Read copies the file's next bytes into p.
func (r *fileReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && r.err == nil {
		if r.off == len(r.cur.data) {
			r.next()
			if n > 0 && r.err != nil {
				break // return what was copied; the error comes with the next Read
			}
			continue
		}
		k := copy(p[n:], r.cur.data[r.off:])
		r.off += k
		n += k
	}
	if n > 0 {
		return n, nil
	}
	return 0, r.err
}

// next releases the current chunk and waits for the next one, or for the end of the
// walk (r.err: io.EOF, or what went wrong).
func (r *fileReader) next() {
	r.release()
	c, ok := <-r.chunks
	switch {
	case !ok && r.sized && r.sent != r.size:
		r.err = malformed("its leaves hold %d bytes, its root says %d", r.sent, r.size)
	case !ok:
		r.err = io.EOF
	case c.err != nil:
		r.err = c.err
	case r.sized && r.sent+uint64(len(c.data)) > r.size:
		r.cur = c
		r.err = malformed("its leaves hold more than the %d bytes its root says", r.size)
	default:
		r.cur = c
		r.sent += uint64(len(c.data))
	}
}

// first waits for the first chunk (or the end of the walk) and returns the error the
// walk ended with before it, if any; Read then starts with that chunk.
func (r *fileReader) first() error {
	for r.err == nil && r.off == len(r.cur.data) {
		r.next()
	}
	if r.err != nil && r.err != io.EOF {
		return r.err
	}
	return nil
}

// release returns the current chunk's buffer, whose bytes have all been copied out.
func (r *fileReader) release() {
	r.cur.free()
	r.cur, r.off = chunk{}, 0
}

// Close stops the walk and returns the buffers of chunks not read.
func (r *fileReader) Close() error {
	r.cancel()
	r.release()
	for c := range r.chunks {
		c.free()
	}
	<-r.done
	if r.err == nil {
		r.err = errors.New("gateway: file reader closed")
	}
	return nil
}

// walker is the goroutine of a fileReader. For a file it queues the file's bytes; for a
// CAR (car), each block's section (length, CID, bytes), skipping blocks in seen when
// seen is not nil.
type walker struct {
	bs   *Blockstore
	out  chan<- chunk
	car  bool
	seen map[cid.Cid]bool
	// barren counts the nodes visited since the last one that sent a byte.
	barren int
}

// visit is called for each node the walk reaches: it fails once ctx has ended (the
// client left) or once more than MaxBarrenNodes nodes in a row have sent no byte.
func (w *walker) visit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.barren++
	if w.barren > MaxBarrenNodes {
		return malformed("more than %d nodes in a row hold no bytes", MaxBarrenNodes)
	}
	return nil
}

// maxDepth bounds the walk: a balanced DAG of 1 MiB leaves and 1024 links a node is 4
// levels deep at 1 PiB.
const maxDepth = 64

// MaxBarrenNodes is the most nodes a file's walk visits in a row without reaching a byte
// of the file. Between two leaves an importer's DAG has at most its depth of nodes (at
// most maxDepth), so only a crafted DAG comes near it: nodes holding no bytes that link
// the same empty child thousands of times, three levels deep, are a billion visits that
// send nothing, and so would never end nor notice the client leaving. Such a file's
// response fails instead. It is tighter than the Blockstore's MaxReadsWithoutWrite,
// which is sized for boxo's directory listings and does not see the raw leaves the walk
// reads past Get (an empty one is a visit too).
const MaxBarrenNodes = 4096

// malformed returns the error for a stored file's DAG the gateway does not serve: it
// wraps ErrMalformed, and boxo answers it 422 Unprocessable Content when no byte of the
// response has been written.
func malformed(format string, args ...any) error {
	return gateway.NewErrorStatusCode(fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...), http.StatusUnprocessableEntity)
}

// emitNode queues a file node's own data, then its children's bytes in order.
func (w *walker) emitNode(ctx context.Context, fsn *unixfs.FSNode, links []cid.Cid, depth int) error {
	if depth > maxDepth {
		return malformed("deeper than %d levels", maxDepth)
	}
	switch fsn.Type() {
	case unixfs.TFile, unixfs.TRaw:
	default:
		return malformed("it holds a %s node", fsn.Type())
	}
	if err := w.visit(ctx); err != nil {
		return err
	}
	if d := fsn.Data(); len(d) > 0 && !w.send(ctx, chunk{data: d}) {
		return ctx.Err()
	}
	for _, l := range links {
		if err := w.emitChild(ctx, l, depth); err != nil {
			return err
		}
	}
	return nil
}

// emitChild queues the bytes of the child c: a raw leaf, or a dag-pb node walked in turn.
func (w *walker) emitChild(ctx context.Context, c cid.Cid, depth int) error {
	switch c.Prefix().Codec {
	case cid.Raw:
		if err := w.visit(ctx); err != nil {
			return err
		}
		ch, err := w.leaf(ctx, c)
		if err != nil {
			return err
		}
		return w.sendOwned(ctx, ch)
	case cid.DagProtobuf:
		fsn, links, err := w.bs.fileNode(ctx, c)
		if err != nil {
			return err
		}
		return w.emitNode(ctx, fsn, links, depth+1)
	}
	return malformed("%s is neither raw nor dag-pb", c)
}

// leaf reads the raw leaf c: an inline, cached or small one through the Blockstore's
// LRU, a large one into a pooled buffer, checked against c. The leaf is located once.
func (w *walker) leaf(ctx context.Context, c cid.Cid) (chunk, error) {
	if c.Prefix().MhType == multihash.IDENTITY {
		blk, err := w.bs.Get(ctx, c)
		if err != nil {
			return chunk{}, err
		}
		return chunk{data: blk.RawData()}, nil
	}
	if data, ok := w.bs.cached(c); ok {
		return chunk{data: data}, nil
	}
	locs, err := w.bs.locate(ctx, c)
	if err != nil {
		return chunk{}, err
	}
	if locs[0].Length <= CacheMaxBlock || locs[0].Length > LeafBufferSize {
		data, err := w.bs.readLocated(ctx, c, locs)
		return chunk{data: data}, err
	}
	buf := leafBuffers.Get().(*[]byte)
	data, err := w.bs.readFirst(ctx, c, locs, *buf)
	if err != nil {
		leafBuffers.Put(buf)
		return chunk{}, err
	}
	return chunk{data: data, buf: buf}, nil
}

// emitBlock queues the CAR section of block c, then those of the blocks below it.
func (w *walker) emitBlock(ctx context.Context, c cid.Cid, depth int) error {
	if depth > maxDepth {
		return malformed("deeper than %d levels", maxDepth)
	}
	if w.seen != nil {
		if w.seen[c] {
			return nil
		}
		w.seen[c] = true
	}
	switch c.Prefix().Codec {
	case cid.Raw:
		if c.Prefix().MhType == multihash.IDENTITY {
			return nil // boxo's CAR writer leaves inline blocks out: their CID holds them
		}
		ch, err := w.leaf(ctx, c)
		if err != nil {
			return err
		}
		if !w.send(ctx, chunk{data: section(c, len(ch.data), 0)}) {
			ch.free()
			return ctx.Err()
		}
		return w.sendOwned(ctx, ch)
	case cid.DagProtobuf:
		pn, data, err := w.bs.protoNode(ctx, c)
		if err != nil {
			return err
		}
		if !w.send(ctx, chunk{data: append(section(c, len(data), len(data)), data...)}) {
			return ctx.Err()
		}
		for _, l := range linkCIDs(pn) {
			if err := w.emitBlock(ctx, l, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return malformed("%s is neither raw nor dag-pb", c)
}

// section returns the start of a CARv1 block section (message.AppendSectionHead): the
// varint length of the CID and the block's n bytes, then the CID, with room for extra
// bytes more (the block's, when the caller appends them).
func section(c cid.Cid, n, extra int) []byte {
	return message.AppendSectionHead(make([]byte, 0, binary.MaxVarintLen64+c.ByteLen()+extra), c, n)
}

// sendOwned queues ch, returning its buffer to the pool when ctx ends first.
func (w *walker) sendOwned(ctx context.Context, ch chunk) error {
	if w.send(ctx, ch) {
		return nil
	}
	ch.free()
	return ctx.Err()
}

// send queues ch unless ctx ends first.
func (w *walker) send(ctx context.Context, ch chunk) bool {
	select {
	case w.out <- ch:
		if len(ch.data) > 0 {
			w.barren = 0
		}
		return true
	case <-ctx.Done():
		return false
	}
}
