package unixfs

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
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
	// Blocks is the number of blocks in it; Data the bytes of raw (file data) blocks.
	Blocks int
	Data   int64
}

// Sharder cuts a stream of blocks into CARv1 shards of at most a given size, in the
// order the blocks come. Each shard's header names one root: the shard's first block (a
// shard of a DAG has no root of its own; the DAG's root is the last block of the last
// shard). Blocks are never split: a block that does not fit an empty shard is an error.
type Sharder struct {
	dir  string
	max  int64
	done func(Shard) error

	cur  *Shard
	f    *os.File
	w    *bufio.Writer
	h    hash.Hash
	out  io.Writer
	next int
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

// Add appends b to the current shard, first finishing it when b does not fit.
func (s *Sharder) Add(b blocks.Block) error {
	c := b.Cid()
	section := int64(len(c.Bytes()) + len(b.RawData()))
	n := int64(uvarintLen(uint64(section))) + section
	if s.cur != nil && s.cur.Size+n > s.max {
		if err := s.finish(); err != nil {
			return err
		}
	}
	if s.cur == nil {
		hdr := carHeader(c)
		if int64(len(hdr))+n > s.max {
			return fmt.Errorf("block %s (%d bytes) does not fit a CAR shard of %d bytes", c, len(b.RawData()), s.max)
		}
		if err := s.start(hdr); err != nil {
			return err
		}
	}
	var vb [binary.MaxVarintLen64]byte
	if err := s.write(vb[:binary.PutUvarint(vb[:], uint64(section))]); err != nil {
		return err
	}
	if err := s.write(c.Bytes()); err != nil {
		return err
	}
	if err := s.write(b.RawData()); err != nil {
		return err
	}
	s.cur.Blocks++
	if c.Type() == cid.Raw {
		s.cur.Data += int64(len(b.RawData()))
	}
	return nil
}

// Close finishes the last shard.
func (s *Sharder) Close() error {
	if s.cur == nil {
		return nil
	}
	return s.finish()
}

// Abort removes the file of the shard being written, if any.
func (s *Sharder) Abort() {
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
		s.f = nil
	}
	s.cur = nil
}

func (s *Sharder) start(hdr []byte) error {
	s.next++
	s.cur = &Shard{N: s.next}
	s.h = sha256.New()
	s.out = s.h
	if s.dir != "" {
		f, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("shard-%06d.car", s.next)))
		if err != nil {
			return err
		}
		s.f = f
		s.cur.Path = f.Name()
		if s.w == nil {
			s.w = bufio.NewWriterSize(f, shardBufferSize)
		} else {
			s.w.Reset(f)
		}
		s.out = io.MultiWriter(s.h, s.w)
	}
	return s.write(hdr)
}

func (s *Sharder) write(b []byte) error {
	_, err := s.out.Write(b)
	s.cur.Size += int64(len(b))
	return err
}

func (s *Sharder) finish() error {
	if s.f != nil {
		if err := s.w.Flush(); err != nil {
			return err
		}
		if err := s.f.Close(); err != nil {
			return err
		}
		s.f = nil
	}
	mh, err := multihash.Encode(s.h.Sum(nil), multihash.SHA2_256)
	if err != nil {
		return err
	}
	s.cur.CID = cid.NewCidV1(CodecCAR, mh)
	sh := *s.cur
	s.cur = nil
	return s.done(sh)
}

// carHeader is the CARv1 header naming root: the varint length, then the DAG-CBOR map
// {"roots": [root], "version": 1} (keys in canonical order).
func carHeader(root cid.Cid) []byte {
	cb := append([]byte{0x00}, root.Bytes()...) // tag 42 holds the CID with a 0x00 prefix
	var m []byte
	m = append(m, 0xa2, 0x65)
	m = append(m, "roots"...)
	m = append(m, 0x81, 0xd8, 0x2a)
	m = appendCBORBytesHead(m, len(cb))
	m = append(m, cb...)
	m = append(m, 0x67)
	m = append(m, "version"...)
	m = append(m, 0x01)
	out := binary.AppendUvarint(nil, uint64(len(m)))
	return append(out, m...)
}

func appendCBORBytesHead(b []byte, n int) []byte {
	switch {
	case n < 24:
		return append(b, 0x40|byte(n))
	case n < 256:
		return append(b, 0x58, byte(n))
	default:
		return append(b, 0x59, byte(n>>8), byte(n))
	}
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}
