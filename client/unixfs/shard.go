package unixfs

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/message"
)

const (
	// DefaultShardSize is the default most bytes of a CAR shard, as the incumbent's
	// upload client (133,169,152).
	DefaultShardSize = 133_169_152
	// CodecCAR is the multicodec of a CAR file's CID (0x0202).
	CodecCAR = 0x0202
	// shardBufferSize is the write buffer of a shard file.
	shardBufferSize = 1 << 20
)

// Shard is one finished CAR shard.
type Shard struct {
	// N numbers the shards from 1 in the order they were cut.
	N int
	// CID is the CAR's CID: CIDv1, codec 0x0202, sha2-256 of its bytes.
	CID cid.Cid
	// Size is the CAR's length in bytes.
	Size int64
	// Path is the file holding the CAR; empty when the Sharder keeps no files.
	Path string
	// Parts are the CAR's bytes, in order, when the Sharder keeps views of the shards
	// (NewViewSharder): bytes in memory (the header, each section's length and CID, the
	// DAG's own nodes) and ranges of the imported files (the bytes of FileBlocks). Read
	// them with NewReader.
	Parts []Part
	// Blocks is the number of blocks in it; Data the bytes of raw (file data) blocks.
	Blocks int
	Data   int64
}

// Part is a piece of a shard's CAR bytes: Data, or when Path is set, Length bytes of the
// file at Path from Offset.
type Part struct {
	Data   []byte
	Path   string
	Offset int64
	Length int64
}

// Sharder cuts a stream of blocks into CARv1 shards of at most a given size, in the
// order the blocks come. Each shard's header names one root: the shard's first block (a
// shard of a DAG has no root of its own; the DAG's root is the last block of the last
// shard). Blocks are never split: a block that does not fit an empty shard is an error.
//
// Add decides where shards are cut and returns; a goroutine of the Sharder hashes the CAR
// bytes and writes the shard files (at most shardQueue blocks behind), so the caller's
// import (reading, hashing each block for its CID) and the CAR's sha2-256 and file writes
// use two cores. The done callback runs on that goroutine, in shard order; an error of
// it, or of a write, is returned by a later Add or by Close. Blocks are not copied: they
// are immutable.
type Sharder struct {
	dir  string
	view bool
	max  int64
	done func(Shard) error

	cur    *Shard // the shard being cut: its N, Size, Blocks and Data so far
	next   int
	ops    chan shardOp // nil until the first Add
	exited chan struct{}
	err    error // the writer's error, read once exited is closed
	closed bool
	abort  atomic.Bool
}

// shardQueue is how many blocks Add may be ahead of the goroutine writing the shards
// (at most shardQueue × the largest block, 1 MiB, of memory besides the write buffer).
const shardQueue = 4

// shardOp is one step for the writer: start shard n (hdr its CAR header), write a block
// (block set; hdr its section's varint length and CID, data its bytes), or finish a shard
// (fin set). A block that is a FileBlock has path and off set.
type shardOp struct {
	hdr, data []byte
	block     bool
	fin       *Shard
	n         int
	path      string
	off       int64
}

// NewSharder returns a Sharder cutting shards of at most maxSize bytes (DefaultShardSize
// when 0). Each shard is written to a new file in dir (only hashed, no file kept, when dir
// is "") and handed to done once complete; the file then belongs to done.
func NewSharder(dir string, maxSize int64, done func(Shard) error) *Sharder {
	if maxSize <= 0 {
		maxSize = DefaultShardSize
	}
	return &Sharder{dir: dir, max: maxSize, done: done}
}

// NewViewSharder returns a Sharder cutting shards of at most maxSize bytes
// (DefaultShardSize when 0) that keeps no copy of file bytes: each shard handed to done
// has its CID and its Parts, the bytes of FileBlocks as ranges of their files and the
// rest (CAR framing, the DAG's own nodes: about 50 bytes a MiB of file) in memory. The
// shard's bytes are read back from the files with Shard.NewReader, so they are what was
// hashed only as long as the files do not change (a receiver that checks the CAR's CID
// tells). Nothing is written to disk.
func NewViewSharder(maxSize int64, done func(Shard) error) *Sharder {
	s := NewSharder("", maxSize, done)
	s.view = true
	return s
}

// Add appends b to the current shard, first finishing it when b does not fit.
func (s *Sharder) Add(b blocks.Block) error {
	if s.closed {
		return ErrSharderClosed
	}
	c := b.Cid()
	head := message.AppendSectionHead(make([]byte, 0, binary.MaxVarintLen64+c.ByteLen()), c, len(b.RawData()))
	n := int64(len(head) + len(b.RawData()))
	if s.cur != nil && s.cur.Size+n > s.max {
		if err := s.finish(); err != nil {
			return err
		}
	}
	if s.cur == nil {
		hdr := message.AppendCARHeader(nil, []cid.Cid{c})
		if int64(len(hdr))+n > s.max {
			return fmt.Errorf("block %s (%d bytes) does not fit a CAR shard of %d bytes", c, len(b.RawData()), s.max)
		}
		s.next++
		s.cur = &Shard{N: s.next, Size: int64(len(hdr))}
		if err := s.send(shardOp{hdr: hdr, n: s.next}); err != nil {
			return err
		}
	}
	op := shardOp{hdr: head, data: b.RawData(), block: true}
	if fb, ok := b.(*FileBlock); ok && s.view {
		op.path, op.off = fb.Path, fb.Offset
	}
	if err := s.send(op); err != nil {
		return err
	}
	s.cur.Size += n
	s.cur.Blocks++
	if c.Type() == cid.Raw {
		s.cur.Data += int64(len(b.RawData()))
	}
	return nil
}

// Close finishes the last shard and waits until it is written and handed to done. It
// returns the first error of a write or of done.
func (s *Sharder) Close() error {
	if s.closed {
		return ErrSharderClosed
	}
	var err error
	if s.cur != nil {
		err = s.finish()
	}
	s.closed = true
	if s.ops == nil {
		return err
	}
	close(s.ops)
	<-s.exited
	if s.err != nil {
		return s.err
	}
	return err
}

// Abort stops writing and removes the file of the shard being written, if any.
func (s *Sharder) Abort() {
	s.cur = nil
	if s.closed {
		return
	}
	s.closed = true
	if s.ops == nil {
		return
	}
	s.abort.Store(true)
	close(s.ops)
	<-s.exited
}

// finish hands the current shard's totals to the writer, which finishes it.
func (s *Sharder) finish() error {
	sh := *s.cur
	s.cur = nil
	return s.send(shardOp{fin: &sh})
}

// send queues op for the writer, starting it on the first op; once the writer has
// stopped on an error it returns that error.
func (s *Sharder) send(op shardOp) error {
	if s.ops == nil {
		s.ops = make(chan shardOp, shardQueue)
		s.exited = make(chan struct{})
		go s.write()
	}
	select {
	case s.ops <- op:
		return nil
	case <-s.exited:
		return s.err
	}
}

// write runs the ops until the channel is closed or one fails; a shard file left
// unfinished (an error, Abort) is removed.
func (s *Sharder) write() {
	w := shardWriter{dir: s.dir, view: s.view}
	defer close(s.exited)
	defer w.discard()
	for op := range s.ops {
		if s.abort.Load() {
			continue
		}
		var err error
		switch {
		case op.fin != nil:
			var sh Shard
			if sh, err = w.finish(*op.fin); err == nil {
				err = s.done(sh)
			}
		case op.block && op.path != "":
			if err = w.write(op.hdr); err == nil {
				w.h.Write(op.data)
				w.parts = append(w.parts, Part{Path: op.path, Offset: op.off, Length: int64(len(op.data))})
			}
		case op.block:
			if err = w.write(op.hdr); err == nil {
				err = w.write(op.data)
			}
		default:
			err = w.start(op.n, op.hdr)
		}
		if err != nil {
			s.err = err
			return
		}
	}
}

// shardWriter is the writer goroutine's state: the open shard file (or the parts of a
// view) and its hash.
type shardWriter struct {
	dir   string
	view  bool
	f     *os.File
	w     *bufio.Writer
	h     hash.Hash
	out   io.Writer
	parts []Part
}

// Write appends p to the view's parts, to the last one when it is in memory too.
func (w *shardWriter) Write(p []byte) (int, error) {
	if n := len(w.parts); n > 0 && w.parts[n-1].Path == "" {
		w.parts[n-1].Data = append(w.parts[n-1].Data, p...)
	} else {
		w.parts = append(w.parts, Part{Data: bytes.Clone(p)})
	}
	return len(p), nil
}

func (w *shardWriter) start(n int, hdr []byte) error {
	w.h = sha256.New()
	w.out = w.h
	w.parts = nil
	if w.view {
		w.out = io.MultiWriter(w.h, w)
	} else if w.dir != "" {
		f, err := os.Create(filepath.Join(w.dir, fmt.Sprintf("shard-%06d.car", n)))
		if err != nil {
			return err
		}
		w.f = f
		if w.w == nil {
			w.w = bufio.NewWriterSize(f, shardBufferSize)
		} else {
			w.w.Reset(f)
		}
		w.out = io.MultiWriter(w.h, w.w)
	}
	return w.write(hdr)
}

func (w *shardWriter) write(b []byte) error {
	_, err := w.out.Write(b)
	return err
}

// finish flushes and closes the shard file and returns sh with its CID and path.
func (w *shardWriter) finish(sh Shard) (Shard, error) {
	if w.f != nil {
		if err := w.w.Flush(); err != nil {
			return sh, err
		}
		sh.Path = w.f.Name()
		err := w.f.Close()
		w.f = nil
		if err != nil {
			os.Remove(sh.Path)
			return sh, err
		}
	}
	sh.Parts, w.parts = w.parts, nil
	mh, err := multihash.Encode(w.h.Sum(nil), multihash.SHA2_256)
	if err != nil {
		return sh, err
	}
	sh.CID = cid.NewCidV1(CodecCAR, mh)
	return sh, nil
}

// NewReader returns a reader of the shard's CAR bytes: its file, or its Parts read
// from memory and from their files (which must not have changed: a file that is now
// shorter is an error, other changes are the receiver's to find by the CAR's CID).
func (s Shard) NewReader() (io.ReadCloser, error) {
	if s.Parts == nil {
		return os.Open(s.Path)
	}
	return &partsReader{parts: s.Parts}, nil
}

// partsReader reads Parts in order, keeping the file of the current part open.
type partsReader struct {
	parts []Part
	done  int64 // bytes of parts[0] read
	f     *os.File
}

func (r *partsReader) Read(p []byte) (int, error) {
	for len(r.parts) > 0 {
		pt := r.parts[0]
		if pt.Path == "" {
			if r.done < int64(len(pt.Data)) {
				n := copy(p, pt.Data[r.done:])
				r.done += int64(n)
				return n, nil
			}
		} else if r.done < pt.Length {
			if err := r.open(pt.Path); err != nil {
				return 0, err
			}
			n, err := r.f.ReadAt(p[:min(int64(len(p)), pt.Length-r.done)], pt.Offset+r.done)
			r.done += int64(n)
			if err == io.EOF {
				err = shorter(pt.Path)
			}
			return n, err
		}
		r.parts, r.done = r.parts[1:], 0
	}
	return 0, io.EOF
}

// WriteTo writes the rest of the parts to w, handing each file range to w's ReadFrom
// when it has one (a TCP connection's sends it with sendfile, without copying it through
// memory).
func (r *partsReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	rf, _ := w.(io.ReaderFrom)
	for len(r.parts) > 0 {
		pt := r.parts[0]
		switch {
		case pt.Path == "" && r.done < int64(len(pt.Data)):
			n, err := w.Write(pt.Data[r.done:])
			r.done += int64(n)
			total += int64(n)
			if err != nil {
				return total, err
			}
			continue
		case pt.Path != "" && r.done < pt.Length && rf != nil:
			if err := r.open(pt.Path); err != nil {
				return total, err
			}
			if _, err := r.f.Seek(pt.Offset+r.done, io.SeekStart); err != nil {
				return total, err
			}
			want := pt.Length - r.done
			n, err := rf.ReadFrom(&io.LimitedReader{R: r.f, N: want})
			r.done += n
			total += n
			if err == nil && n < want {
				err = shorter(pt.Path)
			}
			if err != nil {
				return total, err
			}
			continue
		case pt.Path != "" && r.done < pt.Length:
			n, err := io.Copy(w, struct{ io.Reader }{r})
			return total + n, err
		}
		r.parts, r.done = r.parts[1:], 0
	}
	return total, nil
}

// Remaining is the number of bytes not read yet.
func (r *partsReader) Remaining() int64 {
	var n int64
	for i, pt := range r.parts {
		l := pt.Length
		if pt.Path == "" {
			l = int64(len(pt.Data))
		}
		if i == 0 {
			l -= r.done
		}
		n += l
	}
	return n
}

// shorter is the error of a part's file that ends before the part does.
func shorter(path string) error {
	return fmt.Errorf("%s: %w: it is shorter than when it was imported", path, ErrFileChanged)
}

// open makes r.f the file at path.
func (r *partsReader) open(path string) error {
	if r.f != nil && r.f.Name() == path {
		return nil
	}
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	r.f = f
	return nil
}

// Close closes the file being read.
func (r *partsReader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// discard closes and removes an unfinished shard file.
func (w *shardWriter) discard() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
	}
}
