package unixfs

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	chunk "github.com/ipfs/boxo/chunker"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/ipld/unixfs/hamt"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/piece"
)

const (
	// ChunkSize is the fixed size of a file's chunks (raw leaves), as ipfs-car.
	ChunkSize = 1 << 20
	// LinkWidth is the most links of a file's intermediate node (balanced layout).
	LinkWidth = 1024
	// ShardThreshold is the most entries of a plain directory: a directory with more is
	// HAMT-sharded (ipfs-car's rule: "shard directory after > 1,000 items").
	ShardThreshold = 1000
	// HAMTFanout is the width of a HAMT shard node.
	HAMTFanout = 256
)

// cidBuilder makes CIDv1 sha2-256 links, as ipfs-car.
var cidBuilder = cid.V1Builder{Codec: cid.DagProtobuf, MhType: multihash.SHA2_256}

// Options tune Import. The zero value imports as `ipfs-car pack` does by default.
type Options struct {
	// NoWrap imports a single file as the root itself; the zero value wraps it in a
	// directory holding it under its base name (ipfs-car --wrap, its default).
	NoWrap bool
	// Hidden includes files and directories whose names start with "."; the zero value
	// skips them, as ipfs-car does without --hidden.
	Hidden bool
	// Skipped, when not nil, is called by List with the path of each entry it leaves out
	// for being neither a regular file nor a directory: a symbolic link inside a
	// directory (a link is followed only when it is one of the paths given), a named
	// pipe, a socket, a device. Names left out for starting with "." are not reported.
	Skipped func(path string)
}

// File is one file to import: its name in the DAG ("a/b.txt", "/"-separated, relative
// to the root) and where it is on disk.
type File struct {
	Name string
	Path string
	Size int64
}

// List returns the files under paths in the order and with the names ipfs-car gives
// them: every regular file under each path (symbolic links are followed only when they
// are a path given, skipped inside directories, and opts.Skipped hears of each entry
// left out that way; empty directories are not kept), named
// relative to the longest directory prefix all of them share, sorted by name.
func List(paths []string, opts Options) ([]File, error) {
	var files []File
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		if !opts.Hidden && strings.HasPrefix(filepath.Base(abs), ".") {
			continue
		}
		info, err := os.Stat(abs)
		if err != nil {
			return nil, err
		}
		switch {
		case info.Mode().IsRegular():
			files = append(files, File{Name: filepath.ToSlash(abs), Path: abs, Size: info.Size()})
		case info.IsDir():
			if files, err = listDir(abs, opts, files); err != nil {
				return nil, err
			}
		case opts.Skipped != nil:
			opts.Skipped(p)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoFiles, strings.Join(paths, ", "))
	}
	var common []string
	for i, f := range files {
		parts := strings.Split(f.Name, "/")
		if i == 0 {
			common = parts[:len(parts)-1]
			continue
		}
		for j := range common {
			if common[j] != parts[j] {
				common = common[:j]
				break
			}
		}
	}
	prefix := strings.Join(common, "/") + "/"
	for i := range files {
		files[i].Name = files[i].Name[len(prefix):]
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

func listDir(dir string, opts Options, files []File) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !opts.Hidden && strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		switch {
		case e.Type().IsRegular():
			info, err := e.Info()
			if err != nil {
				return nil, err
			}
			files = append(files, File{Name: filepath.ToSlash(p), Path: p, Size: info.Size()})
		case e.IsDir():
			if files, err = listDir(p, opts, files); err != nil {
				return nil, err
			}
		case opts.Skipped != nil:
			opts.Skipped(p)
		}
	}
	return files, nil
}

// Import builds the UnixFS DAG of files (as List returns them) and calls emit once for
// each distinct block, every block after the blocks it links to; the last block emitted
// is the root, whose CID it returns. A single file with opts.NoWrap is the root itself;
// otherwise the root is the directory holding the files under their names.
func Import(ctx context.Context, files []File, opts Options, emit func(blocks.Block) error) (cid.Cid, error) {
	if len(files) == 0 {
		return cid.Undef, ErrNoFiles
	}
	ds := &emitter{emit: emit, seen: map[string]struct{}{}}
	if len(files) == 1 && opts.NoWrap {
		lnk, err := importFile(ctx, ds, files[0].Path)
		if err != nil {
			return cid.Undef, err
		}
		return lnk.Cid, nil
	}
	root := &dirEntry{entries: map[string]*dirEntry{}}
	for _, f := range files {
		d := root
		parts := strings.Split(f.Name, "/")
		for i, name := range parts {
			e := d.entries[name]
			if i == len(parts)-1 {
				if e != nil {
					return cid.Undef, fmt.Errorf("%w: %q", ErrConflict, f.Name)
				}
				d.add(name, &dirEntry{path: f.Path})
				break
			}
			if e == nil {
				e = &dirEntry{entries: map[string]*dirEntry{}}
				d.add(name, e)
			} else if e.entries == nil {
				return cid.Undef, fmt.Errorf("%w: %q", ErrConflict, strings.Join(parts[:i+1], "/"))
			}
			d = e
		}
	}
	lnk, err := root.finish(ctx, ds)
	if err != nil {
		return cid.Undef, err
	}
	return lnk.Cid, nil
}

// dirEntry is a file (path set) or a directory (entries set) of the tree Import builds.
type dirEntry struct {
	path    string
	entries map[string]*dirEntry
	names   []string // in insertion order
}

func (d *dirEntry) add(name string, e *dirEntry) {
	d.entries[name] = e
	d.names = append(d.names, name)
}

// finish imports the entry and returns its link (CID and cumulative size).
func (d *dirEntry) finish(ctx context.Context, ds *emitter) (*ipld.Link, error) {
	if d.entries == nil {
		return importFile(ctx, ds, d.path)
	}
	if len(d.names) > ShardThreshold {
		s, err := hamt.NewShard(ds, HAMTFanout)
		if err != nil {
			return nil, err
		}
		s.SetCidBuilder(cidBuilder)
		for _, name := range d.names {
			lnk, err := d.entries[name].finish(ctx, ds)
			if err != nil {
				return nil, err
			}
			if err := s.SetLink(ctx, name, lnk); err != nil {
				return nil, err
			}
		}
		nd, err := s.Node() // adds every shard node, children first
		if err != nil {
			return nil, err
		}
		return ipld.MakeLink(nd)
	}
	nd := ft.EmptyDirNode()
	if err := nd.SetCidBuilder(cidBuilder); err != nil {
		return nil, err
	}
	for _, name := range d.names {
		lnk, err := d.entries[name].finish(ctx, ds)
		if err != nil {
			return nil, err
		}
		if err := nd.AddRawLink(name, lnk); err != nil {
			return nil, err
		}
	}
	if err := ds.Add(ctx, nd); err != nil {
		return nil, err
	}
	return ipld.MakeLink(nd)
}

// importFile imports one file with the balanced layout and returns its root's link.
func importFile(ctx context.Context, ds *emitter, path string) (*ipld.Link, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return importReader(ctx, ds, f, path)
}

func importReader(ctx context.Context, ds *emitter, r io.Reader, path string) (*ipld.Link, error) {
	params := helpers.DagBuilderParams{
		Maxlinks:   LinkWidth,
		RawLeaves:  true,
		CidBuilder: cidBuilder,
		Dagserv:    ds,
	}
	db, err := params.New(&fileSplitter{r: piece.ContextReader(ctx, r), path: path, ds: ds})
	if err != nil {
		return nil, err
	}
	nd, err := balanced.Layout(db)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", path, err)
	}
	return ipld.MakeLink(nd)
}

// FileBlock is a raw leaf of a file whose bytes are the len(RawData()) bytes of the file
// at Path from Offset, as Import read them: Import emits file chunks as FileBlocks, so a consumer may
// keep where the bytes are rather than the bytes (and read them again, checking them, when
// it needs them).
type FileBlock struct {
	blocks.Block
	Path   string
	Offset int64
}

// fileSplitter cuts a file into ChunkSize chunks exactly as boxo's size splitter does
// (the same chunks, so the same CIDs) and tells the emitter where the last one came from.
type fileSplitter struct {
	r    io.Reader
	path string
	off  int64
	ds   *emitter
	err  error
}

var _ chunk.Splitter = (*fileSplitter)(nil)

// chunkBuffers holds ChunkSize buffers a short last chunk was read into and copied out
// of: a file smaller than a chunk (or a file's tail) costs a buffer of its own size, not
// a fresh, zeroed ChunkSize one — for a directory of many small files that zeroing was
// most of the import's CPU. Full chunks keep their buffer: it becomes the leaf's bytes.
var chunkBuffers = sync.Pool{New: func() any { return new([ChunkSize]byte) }}

func (s *fileSplitter) Reader() io.Reader { return s.r }

func (s *fileSplitter) NextBytes() ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	pooled := chunkBuffers.Get().(*[ChunkSize]byte)
	n, err := io.ReadFull(s.r, pooled[:])
	var buf []byte
	switch err {
	case nil:
		buf = pooled[:] // a full chunk: the buffer is the leaf's from now on
	case io.ErrUnexpectedEOF:
		s.err = io.EOF
		buf = append([]byte(nil), pooled[:n]...)
		chunkBuffers.Put(pooled)
	default:
		chunkBuffers.Put(pooled)
		return nil, err
	}
	s.ds.origins[s.ds.next%len(s.ds.origins)] = chunkOrigin{data: buf, path: s.path, off: s.off}
	s.ds.next++
	s.off += int64(n)
	return buf, nil
}

// recentChunks is how many of the chunks the splitter returned last the emitter
// remembers the origin of (the layout reads one chunk ahead of the leaf it adds).
const recentChunks = 4

// chunkOrigin is where a chunk the splitter returned came from.
type chunkOrigin struct {
	data []byte
	path string
	off  int64
}

// emitter is the write-only DAG service the importer adds blocks to: each distinct
// block goes to emit once. A raw leaf made of one of the recentChunks chunks the
// splitter returned last (the balanced layout adds each leaf within a chunk of reading
// it) goes as a FileBlock: its bytes are that chunk's, not a copy.
type emitter struct {
	emit    func(blocks.Block) error
	seen    map[string]struct{}
	origins [recentChunks]chunkOrigin
	next    int
}

var _ ipld.DAGService = (*emitter)(nil)

func (e *emitter) Add(_ context.Context, nd ipld.Node) error {
	k := nd.Cid().KeyString()
	if _, ok := e.seen[k]; ok {
		return nil
	}
	e.seen[k] = struct{}{}
	if d := nd.RawData(); len(d) > 0 && nd.Cid().Prefix().Codec == cid.Raw {
		for i, o := range e.origins {
			if len(o.data) == len(d) && &o.data[0] == &d[0] {
				e.origins[i] = chunkOrigin{}
				return e.emit(&FileBlock{Block: nd, Path: o.path, Offset: o.off})
			}
		}
	}
	return e.emit(nd)
}

func (e *emitter) AddMany(ctx context.Context, nds []ipld.Node) error {
	for _, nd := range nds {
		if err := e.Add(ctx, nd); err != nil {
			return err
		}
	}
	return nil
}

func (e *emitter) Get(_ context.Context, c cid.Cid) (ipld.Node, error) {
	return nil, ipld.ErrNotFound{Cid: c}
}

func (e *emitter) GetMany(_ context.Context, cs []cid.Cid) <-chan *ipld.NodeOption {
	ch := make(chan *ipld.NodeOption, len(cs))
	for _, c := range cs {
		ch <- &ipld.NodeOption{Err: ipld.ErrNotFound{Cid: c}}
	}
	close(ch)
	return ch
}

func (e *emitter) Remove(context.Context, cid.Cid) error { return nil }

func (e *emitter) RemoveMany(context.Context, []cid.Cid) error { return nil }
