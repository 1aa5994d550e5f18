package piece

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
)

// fileDepth is how many full segments of a file may be handed to the workers
// beyond the one folded last. Queued segments need no buffers (each worker
// reads the segment it hashes, block by block), so the queue can be deep enough
// that the workers never wait for the folding goroutine, even when the
// scheduler keeps it off a core for a whole time slice (10 ms: about ten
// segments a worker); it costs one small channel per entry.
const fileDepth = 64

// ComputeFile returns the piece of f's bytes from its current offset to its
// end, as Compute(f) would, and leaves the offset at the end. It stops with
// ctx's cause (context.Cause), checked between segments and reads. Its other
// errors name f once (by f.Name()).
//
// For a regular file, the full segments present when it starts are not read
// by one goroutine that hands them to the workers (which then wait for it
// whenever the scheduler keeps it off a core): each worker takes the next
// segment's offset from a queue, reads the segment (ReadAt, a 32 KiB block at
// a time) and hashes it, and the caller only folds the roots in order. Memory
// is a block buffer per worker whatever the file's size. A pipe, a terminal,
// and bytes appended after the start are streamed through a Writer.
func ComputeFile(ctx context.Context, f *os.File) (Piece, error) {
	w := NewWriter()
	defer w.Close()
	if err := w.readFile(ctx, f); err != nil {
		return Piece{}, err
	}
	return w.Sum()
}

// readFile feeds f from its offset to its end into a fresh Writer: its
// full segments through hashSegments, the rest through ReadFrom.
func (w *Writer) readFile(ctx context.Context, f *os.File) error {
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && w.n == 0 && w.fill == 0 {
		start, err := f.Seek(0, io.SeekCurrent)
		if err == nil && st.Size() > start {
			// Never more than MaxPayloadSize here: ReadFrom reports the excess.
			full := min(uint64(st.Size()-start), MaxPayloadSize) / segmentPayload
			if err := w.hashSegments(ctx, f, start, int64(full)); err != nil {
				return err
			}
			if _, err := f.Seek(start+int64(full)*segmentPayload, io.SeekStart); err != nil {
				return fmt.Errorf("piece: seeking past the hashed segments: %w", err) // names f
			}
		}
	}
	_, err := w.ReadFrom(ctxReader{ctx, f})
	if err != nil && ctx.Err() == nil {
		if pe := (*fs.PathError)(nil); !errors.As(err, &pe) { // ErrTooLarge
			err = fmt.Errorf("piece: %s: %w", f.Name(), err)
		}
	}
	return err
}

// segmentResult is a hashed segment's root, or why it has none.
type segmentResult struct {
	root [NodeSize]byte
	err  error
}

// segmentJob is one full segment of a file to hash, at off, and where its
// result goes.
type segmentJob struct {
	off int64
	res chan segmentResult
}

// hashSegments hashes the full segments [0, count) of f starting at byte
// start on w.workers goroutines (on the caller with one worker) and folds
// their roots into w in order.
func (w *Writer) hashSegments(ctx context.Context, f *os.File, start, count int64) error {
	if count == 0 {
		return nil
	}
	if w.workers == 1 && !w.async {
		r := &segmentReader{f: f, s: w.hashLocal()}
		for i := range count {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			root, err := r.hash(start + i*segmentPayload)
			if err != nil {
				return err
			}
			w.foldSegment(root)
		}
		return nil
	}

	jobs := make(chan segmentJob, fileDepth)
	var wg sync.WaitGroup
	for range w.workers {
		wg.Go(func() {
			r := &segmentReader{f: f, s: newHashState()}
			defer hashStates.Put(r.s)
			for j := range jobs {
				root, err := r.hash(j.off)
				j.res <- segmentResult{root, err}
			}
		})
	}
	// On an early return the workers finish what is queued (at most
	// fileDepth segments), their results are dropped.
	defer wg.Wait()
	defer close(jobs)

	ring := make([]chan segmentResult, min(int64(fileDepth), count))
	for i := range ring {
		ring[i] = make(chan segmentResult, 1)
	}
	var next int64
	for done := int64(0); done < count; done++ {
		for ; next < count && next-done < int64(len(ring)); next++ {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			jobs <- segmentJob{off: start + next*segmentPayload, res: ring[next%int64(len(ring))]}
		}
		r := <-ring[done%int64(len(ring))]
		if r.err != nil {
			return r.err
		}
		w.foldSegment(r.root)
	}
	return nil
}

// foldSegment adds the root of the next full segment to w.
func (w *Writer) foldSegment(root [NodeSize]byte) {
	w.acc.push(segmentHeight, root)
	w.n += segmentPayload
	w.segments++
}

// segmentReader hashes full segments of one file for one goroutine.
type segmentReader struct {
	f  *os.File
	s  *hashState
	in []byte // one block of payload
}

// hash returns the root of the full segment of r.f at off. It reads the
// segment one 32 KiB block at a time, each right before expanding it, rather
// than all 1 MiB at once: the block is still in the core's cache when it is
// expanded, and each read is short enough that the Go scheduler does not hand
// the worker's P to another thread while it runs (it does for a read that
// lasts longer than a sysmon tick, 20 µs; with 1 MiB reads the 2-worker run
// took 1.40 s for 1.10 s this way).
func (r *segmentReader) hash(off int64) ([NodeSize]byte, error) {
	if r.in == nil {
		r.in = make([]byte, blockPayload)
	}
	var st stack
	for b := int64(0); b < segmentPayload; b += blockPayload {
		if _, err := r.f.ReadAt(r.in, off+b); err != nil {
			if errors.Is(err, io.EOF) { // the file shrank since ComputeFile began
				return [NodeSize]byte{}, fmt.Errorf("piece: reading %s at %d: %w", r.f.Name(), off+b, io.ErrUnexpectedEOF)
			}
			// ReadAt's other errors are *fs.PathErrors, which name the file.
			return [NodeSize]byte{}, fmt.Errorf("piece: reading at %d: %w", off+b, err)
		}
		fr32Expand(r.s.out, r.in)
		st.push(blockHeight, r.s.h.rootOfLeaves(r.s.out, blockHeight))
	}
	return st.finish(segmentHeight), nil
}

// ContextReader returns a reader of r whose reads fail, once ctx is done, with ctx's
// cause (context.Cause: ctx.Err() unless a cause was given), so that a long computation
// over r — a piece, a hash, an import — stops when ctx ends. It checks ctx before each
// read; a read under way is not interrupted.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(b)
}
