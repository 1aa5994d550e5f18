package fs

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

const (
	// CopyBufferSize is the size of each buffer a Put streams through: the bytes are read
	// into one buffer while earlier ones are being hashed and written.
	CopyBufferSize = 2 << 20
	// PipelineDepth is how many buffers of CopyBufferSize one Put holds, so a Put uses
	// PipelineDepth*CopyBufferSize bytes of memory however large the blob.
	PipelineDepth = 4
	// DirectMinSize is the smallest known blob size a Put writes with direct I/O
	// (O_DIRECT, where the file system supports it): large blobs go from the buffers to
	// the disk without being copied into the page cache and written back at the final
	// fsync. Smaller blobs, and whatever the file system refuses, are written through the
	// page cache. A blob of unknown size is written directly.
	DirectMinSize = CopyBufferSize
	// WritebackInterval is how many bytes a Put writing through the page cache lets
	// accumulate before it asks the kernel to start writing them back, so that the final
	// fsync does not wait for the whole blob.
	WritebackInterval = 8 << 20
	// SmallCopyBufferSize is the most a Put of a blob known to be smaller than
	// CopyBufferSize (written through the page cache in one goroutine, not the pipeline)
	// allocates to copy it: archived messages, log files and schemas do not take
	// PipelineDepth*CopyBufferSize bytes of buffers each.
	SmallCopyBufferSize = 64 << 10
	// directAlign is the alignment direct I/O needs of buffer addresses, file offsets and
	// lengths (the largest logical block size of common devices).
	directAlign = 4096
)

// directIO says whether Put tries direct I/O at all; tests turn it off to cover the page
// cache path on file systems that support direct I/O.
var directIO = true

var copyBuffers = sync.Pool{New: func() any {
	b := make([]byte, CopyBufferSize+directAlign)
	off := 0
	if r := int(uintptrOf(b) & (directAlign - 1)); r != 0 {
		off = directAlign - r
	}
	b = b[off : off+CopyBufferSize : off+CopyBufferSize]
	return &b
}}

// sink writes a blob sequentially into its temporary file.
type sink struct {
	f       *os.File
	direct  bool  // f is open with O_DIRECT
	off     int64 // bytes written
	flushed int64 // bytes handed to write-back (page cache path)
}

// write appends p to the file. With direct I/O it writes the aligned part of p directly
// and then, for an unaligned tail (only the last buffer of a blob has one) or when the
// file system refuses direct I/O, leaves direct I/O for good and writes the rest through
// the page cache.
func (w *sink) write(p []byte) error {
	if w.direct {
		if n := len(p) &^ (directAlign - 1); n > 0 {
			m, err := w.f.Write(p[:n])
			w.off += int64(m)
			p = p[m:]
			if err != nil && !errors.Is(err, syscall.EINVAL) {
				return err
			}
		}
		if len(p) > 0 {
			if err := setDirect(w.f, false); err != nil {
				return err
			}
			w.direct = false
			w.flushed = w.off
		}
	}
	if len(p) == 0 {
		return nil
	}
	n, err := w.f.Write(p)
	w.off += int64(n)
	if err != nil {
		return err
	}
	if w.off-w.flushed >= WritebackInterval {
		startWriteback(w.f, w.flushed, w.off-w.flushed)
		w.flushed = w.off
	}
	return nil
}

// copyTo streams r into w through a ring of PipelineDepth buffers passed along three
// goroutines: this one reads the next buffer from r, another feeds the previous one to h
// (nil: no hashing) and a third writes the one before to w. It returns nil once r
// returned io.EOF and everything was hashed and written; the first error of r or w
// otherwise, after the other goroutines stopped.
func copyTo(w *sink, r io.Reader, h io.Writer) error {
	var bufs [PipelineDepth]*[]byte
	free := make(chan []byte, PipelineDepth)
	toWrite := make(chan []byte, PipelineDepth)
	for i := range bufs {
		bufs[i] = copyBuffers.Get().(*[]byte)
		free <- *bufs[i]
	}
	defer func() {
		for _, b := range bufs {
			copyBuffers.Put(b)
		}
	}()
	next := toWrite // where the reader sends the buffers it filled
	if h != nil {
		toHash := make(chan []byte, PipelineDepth)
		go func() {
			defer close(toWrite)
			for p := range toHash {
				h.Write(p)
				toWrite <- p
			}
		}()
		next = toHash
	}
	var (
		werr   error
		failed atomic.Bool
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		for p := range toWrite {
			if werr == nil {
				if werr = w.write(p); werr != nil {
					failed.Store(true)
				}
			}
			free <- p[:cap(p)]
		}
	}()
	var rerr error
	for rerr == nil && !failed.Load() {
		p := <-free
		n := 0
		for n < len(p) && rerr == nil {
			var m int
			m, rerr = r.Read(p[n:])
			n += m
		}
		if n > 0 {
			next <- p[:n]
		} else {
			free <- p
		}
	}
	close(next)
	<-done
	switch {
	case werr != nil:
		return werr
	case rerr == io.EOF:
		return nil
	default:
		return rerr
	}
}

// copySmall copies r, known to hold size bytes (less than CopyBufferSize), into w while
// feeding h (nil: no hashing), through one buffer of at most SmallCopyBufferSize bytes.
func copySmall(w *sink, r io.Reader, h io.Writer, size int64) error {
	buf := make([]byte, max(1, min(size+1, SmallCopyBufferSize)))
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if h != nil {
				h.Write(buf[:n])
			}
			if werr := w.write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// uintptrOf is the address of b's first byte.
func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
