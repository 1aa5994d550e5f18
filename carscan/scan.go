package carscan

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"
	"github.com/multiformats/go-varint"
)

const (
	// MaxHeaderSize is the largest header accepted, in bytes (a header is its roots).
	MaxHeaderSize = 1 << 20
	// MaxSectionSize is the largest section (CID and block bytes) accepted: 8 MiB, four
	// times the largest block IPFS implementations exchange.
	MaxSectionSize = 8 << 20
	// MaxBlocks is the most blocks one CAR may hold (a 4 GiB CAR of 2 KiB blocks).
	MaxBlocks = 1 << 21
	// readBuffer is the size of the buffered reader Scan reads through.
	readBuffer = 1 << 20
)

// Block is where one block of a CAR lives: its multihash, and the offset and length of
// its bytes (after the CID) from the start of the CAR.
type Block struct {
	Multihash multihash.Multihash
	Offset    int64
	Length    int64
}

// Result is what a scan of a well-formed CAR found.
type Result struct {
	// Roots are the header's roots, in order.
	Roots []cid.Cid
	// Blocks are the CAR's blocks in the order they appear (repeats included).
	Blocks []Block
	// Size is the number of bytes scanned.
	Size int64
}

// countReader counts the bytes read through it.
type countReader struct {
	r *bufio.Reader
	n int64
}

func (c *countReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

func (c *countReader) full(p []byte) error {
	n, err := io.ReadFull(c.r, p)
	c.n += int64(n)
	return err
}

// Scan reads r to its end and checks that it is a well-formed CARv1 (see the package
// documentation), returning its roots and blocks. The error wraps ErrNotCAR, ErrMismatch,
// ErrTruncated or ErrTooLarge, or is the reader's own error.
func Scan(r io.Reader) (*Result, error) {
	cr := &countReader{r: bufio.NewReaderSize(r, readBuffer)}
	roots, err := readHeader(cr)
	if err != nil {
		return nil, err
	}
	res := &Result{Roots: roots}
	var buf []byte
	for i := 0; ; i++ {
		start := cr.n
		n, err := varint.ReadUvarint(cr)
		if errors.Is(err, io.EOF) && cr.n == start {
			break // the end, between sections
		}
		if err != nil {
			return nil, sectionErr(i, err)
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: block %d: a zero-length section", ErrNotCAR, i)
		}
		if n > MaxSectionSize {
			return nil, fmt.Errorf("%w: block %d is a %d-byte section, the limit is %d", ErrTooLarge, i, n, MaxSectionSize)
		}
		if len(res.Blocks) == MaxBlocks {
			return nil, fmt.Errorf("%w: more than %d blocks", ErrTooLarge, MaxBlocks)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		body := cr.n
		if err := cr.full(buf); err != nil {
			return nil, fmt.Errorf("%w: block %d: the stream ends %d bytes into a %d-byte section", ErrTruncated, i, cr.n-body, n)
		}
		cn, c, err := cid.CidFromBytes(buf)
		if err != nil {
			return nil, fmt.Errorf("block %d %w: the CID cannot be read: %v", i, ErrMismatch, err)
		}
		data := buf[cn:]
		if err := check(c, data); err != nil {
			return nil, fmt.Errorf("block %d (%s) %w", i, c, err)
		}
		res.Blocks = append(res.Blocks, Block{
			Multihash: bytes.Clone(c.Hash()),
			Offset:    body + int64(cn),
			Length:    int64(len(data)),
		})
	}
	res.Size = cr.n
	return res, nil
}

// check hashes data with the function c names and compares it with c's digest.
func check(c cid.Cid, data []byte) error {
	dh, err := multihash.Decode(c.Hash())
	if err != nil {
		return fmt.Errorf("%w: its multihash cannot be read: %v", ErrMismatch, err)
	}
	sum, err := multihash.Sum(data, dh.Code, dh.Length)
	if err != nil {
		return fmt.Errorf("%w: hash function 0x%x: %v", ErrMismatch, dh.Code, err)
	}
	if !bytes.Equal(sum, c.Hash()) {
		return ErrMismatch
	}
	return nil
}

func sectionErr(i int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: block %d: the stream ends inside a section length", ErrTruncated, i)
	}
	if errors.Is(err, varint.ErrOverflow) || errors.Is(err, varint.ErrNotMinimal) {
		return fmt.Errorf("%w: block %d: bad section length: %v", ErrNotCAR, i, err)
	}
	return err
}

// readHeader reads the header and returns its roots.
func readHeader(cr *countReader) ([]cid.Cid, error) {
	n, err := varint.ReadUvarint(cr)
	switch {
	case errors.Is(err, io.EOF) && cr.n == 0:
		return nil, fmt.Errorf("%w: the stream is empty", ErrNotCAR)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: the stream ends inside the header length", ErrNotCAR)
	case err != nil && (errors.Is(err, varint.ErrOverflow) || errors.Is(err, varint.ErrNotMinimal)):
		return nil, fmt.Errorf("%w: bad header length: %v", ErrNotCAR, err)
	case err != nil:
		return nil, err
	case n == 0:
		return nil, fmt.Errorf("%w: the header is empty", ErrNotCAR)
	case n > MaxHeaderSize:
		return nil, fmt.Errorf("%w: a header of %d bytes (the limit is %d; is this a CAR at all?)", ErrNotCAR, n, MaxHeaderSize)
	}
	buf := make([]byte, n)
	if err := cr.full(buf); err != nil {
		return nil, fmt.Errorf("%w: the stream ends inside the %d-byte header it announces", ErrNotCAR, n)
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(buf)); err != nil {
		return nil, fmt.Errorf("%w: the header is not DAG-CBOR: %v", ErrNotCAR, err)
	}
	h := nb.Build()
	if h.Kind() != datamodel.Kind_Map {
		return nil, fmt.Errorf("%w: the header is a %s, not a map", ErrNotCAR, h.Kind())
	}
	vn, err := h.LookupByString("version")
	if err != nil {
		return nil, fmt.Errorf("%w: the header has no version", ErrNotCAR)
	}
	v, err := vn.AsInt()
	if err != nil {
		return nil, fmt.Errorf("%w: the header's version is a %s", ErrNotCAR, vn.Kind())
	}
	if v != 1 {
		return nil, fmt.Errorf("%w: version %d (only CARv1 is stored)", ErrNotCAR, v)
	}
	rn, err := h.LookupByString("roots")
	if err != nil {
		return nil, fmt.Errorf("%w: the header has no roots", ErrNotCAR)
	}
	if rn.Kind() != datamodel.Kind_List {
		return nil, fmt.Errorf("%w: the header's roots are a %s, not a list", ErrNotCAR, rn.Kind())
	}
	roots := make([]cid.Cid, 0, rn.Length())
	it := rn.ListIterator()
	for !it.Done() {
		i, ln, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("%w: roots: %v", ErrNotCAR, err)
		}
		l, err := ln.AsLink()
		if err != nil {
			return nil, fmt.Errorf("%w: root %d is a %s, not a link", ErrNotCAR, i, ln.Kind())
		}
		cl, ok := l.(cidlink.Link)
		if !ok {
			return nil, fmt.Errorf("%w: root %d is not a CID", ErrNotCAR, i)
		}
		roots = append(roots, cl.Cid)
	}
	return roots, nil
}
