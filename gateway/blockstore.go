package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/blockindex"
	"github.com/w3dag/w3dag/machines/carwhere"
)

const (
	// CacheSize is the default size of the LRU of recently read blocks, in bytes.
	CacheSize = 8 << 20
	// CacheMaxBlock is the largest block the LRU keeps. What a gateway reads again is
	// small: the root, directory and HAMT nodes, a file's intermediate nodes (a
	// 1024-link node is about 45 KB). A file's leaves (up to 1 MiB) are streamed once
	// in order, and keeping them would only push those nodes out and hold megabytes of
	// a server's memory that is meant to stay under 100 MiB (docs/PERFORMANCE.md).
	CacheMaxBlock = 128 << 10
)

// Engine is what the gateway reads the block index and store entries through;
// *dag.Engine implements it.
type Engine interface {
	blockindex.Viewer
	Entry(ctx context.Context, p dag.Path) (*dag.Entry, error)
}

// Options configure a Blockstore and the handler.
type Options struct {
	// Spaces, when not empty, restricts reads to blocks of CARs that one of these spaces
	// holds (its store entry of the CAR is done). Empty serves every stored CAR.
	Spaces []string
	// CacheSize is the LRU's size in bytes; zero means CacheSize, negative no cache.
	CacheSize int
	// Logger receives read failures; nil discards.
	Logger *slog.Logger
	// RetrievalTimeout bounds how long a response may go without writing a byte, before
	// its first and between two: past it, a response not started is a 504 and one under
	// way is cut, and the request's walk of the DAG stops. Zero means
	// DefaultRetrievalTimeout; negative, none.
	RetrievalTimeout time.Duration
	// MaxRequests bounds the /ipfs/ requests answered at once; more are answered 429 with
	// a Retry-After. Zero means DefaultMaxRequests; negative, no bound.
	MaxRequests int
}

// Blockstore is a read-only boxo blockstore over the stored CARs (see the package
// documentation). Use NewBlockstore.
type Blockstore struct {
	e     Engine
	blobs blob.Store
	o     Options
	cache *lru
}

// NewBlockstore returns a Blockstore reading the index through e and the bytes from blobs.
func NewBlockstore(e Engine, blobs blob.Store, opts Options) (*Blockstore, error) {
	if e == nil || blobs == nil {
		return nil, fmt.Errorf("%w: the blockstore needs an engine and a blob store", ErrConfig)
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = CacheSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Blockstore{e: e, blobs: blobs, o: opts}
	if opts.CacheSize > 0 {
		b.cache = newLRU(opts.CacheSize)
	}
	return b, nil
}

// locate returns the locations of c's block the gateway may serve, or ipld.ErrNotFound.
func (b *Blockstore) locate(ctx context.Context, c cid.Cid) ([]blockindex.Location, error) {
	locs, err := blockindex.Locate(ctx, b.e, c.Hash())
	if errors.Is(err, blockindex.ErrNotIndexed) {
		return nil, ipld.ErrNotFound{Cid: c}
	}
	if err != nil {
		return nil, err
	}
	if len(b.o.Spaces) == 0 {
		return locs, nil
	}
	var out []blockindex.Location
	for _, l := range locs {
		ok, err := b.held(ctx, l.CAR)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil, ipld.ErrNotFound{Cid: c}
	}
	return out, nil
}

// held reports whether one of the allowed spaces holds car.
func (b *Blockstore) held(ctx context.Context, car cid.Cid) (bool, error) {
	for _, s := range b.o.Spaces {
		e, err := b.e.Entry(ctx, dag.Path{Subject: s, Collection: "store", Key: car.String()})
		if errors.Is(err, dag.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		if e.Status == dag.StatusDone {
			return true, nil
		}
	}
	return false, nil
}

// MaxReadsWithoutWrite is the most blocks one /ipfs/ request reads while its response
// writes nothing: the bound on boxo's own walks (a Range, entity-bytes, a directory) of a
// DAG crafted to give nothing back, which would otherwise run until the retrieval
// timeout (a Range of a file of 10⁶ empty nodes reads ~20,000 blocks a second here). The
// most a stored DAG needs is a directory listing, which boxo writes only after reading
// every shard of a HAMT directory: 16,384 shards hold some 4·10⁶ entries.
const MaxReadsWithoutWrite = 1 << 14

// progress counts the blocks a request has read since its response last wrote a byte.
type progress struct{ reads atomic.Int64 }

// progressKey is the context key of a request's *progress.
type progressKey struct{}

// Get reads the block c from the first CAR holding it whose bytes match. Within a request
// of the gateway's handler it fails (ErrMalformed) past MaxReadsWithoutWrite blocks read
// while the response wrote nothing.
func (b *Blockstore) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	// A request's walk of a DAG (boxo's or the file reader's) reads block after block,
	// most of them from the LRU: this is where it stops once the request has ended.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p, ok := ctx.Value(progressKey{}).(*progress); ok && p.reads.Add(1) > MaxReadsWithoutWrite {
		return nil, malformed("more than %d blocks read while the response wrote nothing", MaxReadsWithoutWrite)
	}
	if c.Prefix().MhType == multihash.IDENTITY {
		dh, err := multihash.Decode(c.Hash())
		if err != nil {
			return nil, ipld.ErrNotFound{Cid: c}
		}
		return blocks.NewBlockWithCid(dh.Digest, c)
	}
	if data, ok := b.cached(c); ok {
		return blocks.NewBlockWithCid(data, c)
	}
	locs, err := b.locate(ctx, c)
	if err != nil {
		return nil, err
	}
	data, err := b.readLocated(ctx, c, locs)
	if err != nil {
		return nil, err
	}
	return blocks.NewBlockWithCid(data, c)
}

// cached returns c's bytes when the LRU holds them.
func (b *Blockstore) cached(c cid.Cid) ([]byte, bool) {
	if b.cache == nil {
		return nil, false
	}
	return b.cache.get(c)
}

// readLocated reads c's block from the first of locs whose bytes match, into a slice of
// its own, and keeps it in the LRU.
func (b *Blockstore) readLocated(ctx context.Context, c cid.Cid, locs []blockindex.Location) ([]byte, error) {
	data, err := b.readFirst(ctx, c, locs, nil)
	if err != nil {
		return nil, err
	}
	if b.cache != nil {
		b.cache.add(c, data)
	}
	return data, nil
}

// readFirst reads c's block from the first of locs whose bytes match: into buf when buf
// is not nil (skipping locations longer than buf), else into a slice of its own. A
// location that fails is logged and the next one tried.
func (b *Blockstore) readFirst(ctx context.Context, c cid.Cid, locs []blockindex.Location, buf []byte) ([]byte, error) {
	var last error = ipld.ErrNotFound{Cid: c}
	for _, l := range locs {
		var data []byte
		var err error
		switch {
		case buf == nil:
			data, err = blockindex.ReadBlock(ctx, b.blobs, carwhere.BlobKey(l.CAR), l, c)
		case l.Length > int64(len(buf)):
			continue
		default:
			data, err = blockindex.ReadBlockInto(ctx, b.blobs, carwhere.BlobKey(l.CAR), l, c, buf)
		}
		if err != nil {
			b.o.Logger.WarnContext(ctx, "gateway: reading a block", "cid", c.String(), "car", l.CAR.String(), "error", err)
			last = err
			continue
		}
		return data, nil
	}
	return nil, last
}

// Has reports whether a stored CAR holds c.
func (b *Blockstore) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if c.Prefix().MhType == multihash.IDENTITY {
		return true, nil
	}
	_, err := b.locate(ctx, c)
	if ipld.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// GetSize returns the size of the block c.
func (b *Blockstore) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	if c.Prefix().MhType == multihash.IDENTITY {
		blk, err := b.Get(ctx, c)
		if err != nil {
			return 0, err
		}
		return len(blk.RawData()), nil
	}
	locs, err := b.locate(ctx, c)
	if err != nil {
		return 0, err
	}
	return int(locs[0].Length), nil
}

// Put fails: the gateway only reads.
func (b *Blockstore) Put(context.Context, blocks.Block) error { return ErrReadOnly }

// PutMany fails: the gateway only reads.
func (b *Blockstore) PutMany(context.Context, []blocks.Block) error { return ErrReadOnly }

// DeleteBlock fails: the gateway only reads.
func (b *Blockstore) DeleteBlock(context.Context, cid.Cid) error { return ErrReadOnly }

// AllKeysChan fails: the gateway does not list what it holds.
func (b *Blockstore) AllKeysChan(context.Context) (<-chan cid.Cid, error) {
	return nil, ErrReadOnly
}

// HashOnRead does nothing: every block is checked against its CID as it is read.
func (b *Blockstore) HashOnRead(bool) {}
