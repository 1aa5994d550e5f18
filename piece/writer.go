package piece

import (
	"io"
	"runtime"
	"sync"
)

const (
	// segmentHeight is the height of the subtrees hashed independently (and in
	// parallel): 2^15 leaves, 1 MiB of padded data per segment.
	segmentHeight = 15
	// segmentPadded is the padded size of one segment.
	segmentPadded = NodeSize << segmentHeight
	// segmentPayload is the payload bytes that expand to one segment.
	segmentPayload = segmentPadded / expandedChunkSize * chunkSize
	// blockHeight is the height of the blocks a segment is expanded and
	// hashed in, one after the other: 2^10 leaves, 32 KiB, so that a worker's
	// working set stays in its core's cache instead of streaming a 1 MiB
	// buffer through every level.
	blockHeight = 10
	// blockPadded and blockPayload are a block's padded and payload sizes.
	blockPadded  = NodeSize << blockHeight
	blockPayload = blockPadded / expandedChunkSize * chunkSize
)

// maxQueued is how many full segments may wait per worker beyond the ones
// being hashed: one, so a worker that finishes picks up the next segment at
// once instead of waiting for the caller to fill it. In-flight payload
// buffers are at most workers·(1+maxQueued) segments.
const maxQueued = 1

// job is one full segment of payload waiting to be hashed, and where its
// root is delivered. Its buffer is reused once the root is folded.
type job struct {
	in   []byte
	root chan [NodeSize]byte
}

// jobs and hashStates keep segment buffers and hash states between Writers (a
// service computes many pieces, each with its own Writer), so a Writer does not
// allocate and fault in fresh megabytes each time; the garbage collector empties them
// when they are not used.
var (
	jobs       = sync.Pool{New: func() any { return &job{in: make([]byte, segmentPayload), root: make(chan [NodeSize]byte, 1)} }}
	hashStates = sync.Pool{New: func() any { return &hashState{out: make([]byte, blockPadded), h: newHasher()} }}
)

func newJob() *job { return jobs.Get().(*job) }

// hashState is what one goroutine hashes with: its own SHA-256 hasher and
// expansion buffer, never shared with another goroutine.
type hashState struct {
	out []byte
	h   *hasher
}

func newHashState() *hashState { return hashStates.Get().(*hashState) }

// rootOf returns the root of a tree of the given height holding the first n
// bytes of in (zero-padded past n), expanding and hashing one block at a
// time. n ≤ capacity(height) ≤ len(in) = segmentPayload; in[n:] is
// overwritten.
func (s *hashState) rootOf(in []byte, n int, height int) [NodeSize]byte {
	if height <= blockHeight {
		chunks := (n + chunkSize - 1) / chunkSize
		clear(in[n : chunks*chunkSize])
		fr32Expand(s.out, in[:chunks*chunkSize])
		return s.h.rootOfLeaves(s.out[:chunks*expandedChunkSize], height)
	}
	var st stack
	for off := 0; off < n; off += blockPayload {
		m := min(blockPayload, n-off)
		chunks := (m + chunkSize - 1) / chunkSize
		clear(in[off+m : off+chunks*chunkSize])
		fr32Expand(s.out, in[off:off+chunks*chunkSize])
		st.push(blockHeight, s.h.rootOfLeaves(s.out[:chunks*expandedChunkSize], blockHeight))
	}
	return st.finish(height)
}

// pool is a fixed set of goroutines hashing full segments. Each worker owns
// its hashState. The pool holds no reference to its Writer, so a Writer
// dropped without Close or Sum becomes unreachable and its cleanup stops the
// pool.
type pool struct {
	jobs chan *job
	once sync.Once
}

func startPool(workers int) *pool {
	p := &pool{jobs: make(chan *job, workers*maxQueued)}
	for range workers {
		go func() {
			s := newHashState()
			defer hashStates.Put(s)
			for j := range p.jobs {
				j.root <- s.rootOf(j.in, segmentPayload, segmentHeight)
			}
		}()
	}
	return p
}

// stop ends the workers once they have hashed what was already submitted.
func (p *pool) stop() { p.once.Do(func() { close(p.jobs) }) }

// Writer computes the piece commitment of everything written to it. Full
// 1 MiB segments are hashed by a pool of workers goroutines (started on the
// first full segment) while the caller fills the next; their roots are folded
// in order into a stack of at most one node per level. Memory is at most
// 2·workers+1 segment buffers (about 1 MiB each) plus O(log n), whatever the
// payload size. Sum or Close stops the pool; a Writer dropped without either
// stops it when garbage collected. A Writer is not safe for concurrent use.
type Writer struct {
	workers  int
	async    bool // hash every full segment on the pool, even with one worker
	pool     *pool
	cleanup  runtime.Cleanup
	local    *hashState // hashes here: every segment when sequential, the tail always
	cur      *job       // the segment being filled
	fill     int        // bytes of cur.in filled
	n        uint64
	segments uint64
	inflight []*job
	free     []*job
	acc      stack
	done     bool
}

// NewWriter returns a Writer that hashes on runtime.GOMAXPROCS(0) cores.
func NewWriter() *Writer { return NewWriterWorkers(runtime.GOMAXPROCS(0)) }

// NewWriterWorkers returns a Writer that hashes up to workers segments at
// once; workers ≤ 1 hashes sequentially on the calling goroutine and starts
// no goroutine.
func NewWriterWorkers(workers int) *Writer {
	if workers < 1 {
		workers = 1
	}
	return &Writer{workers: workers}
}

// NewWriterAsync returns a Writer that hashes full segments on workers
// goroutines (at least 1) and never on the caller, which only copies the bytes
// into segment buffers: for a caller with work of its own on the same bytes (an
// upload endpoint storing and hashing them), so that commP runs beside it
// instead of after it. The tail segment is still hashed by Sum on the caller.
func NewWriterAsync(workers int) *Writer {
	return &Writer{workers: max(workers, 1), async: true}
}

// Compute reads r to the end and returns its piece, hashing on every core.
func Compute(r io.Reader) (Piece, error) {
	w := NewWriter()
	defer w.Close()
	if _, err := w.ReadFrom(r); err != nil {
		return Piece{}, err
	}
	return w.Sum()
}

// Write adds p to the payload. It fails with ErrTooLarge once the payload
// would exceed MaxPayloadSize, and with ErrWriterClosed after Sum or Close.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, ErrWriterClosed
	}
	if uint64(len(p)) > MaxPayloadSize-w.n {
		return 0, wrapf(ErrTooLarge, "payload exceeds %d bytes (MaxPayloadSize)", uint64(MaxPayloadSize))
	}
	written := 0
	for len(p) > 0 {
		if w.cur == nil {
			w.cur = w.takeJob()
		}
		k := copy(w.cur.in[w.fill:], p)
		w.fill += k
		w.n += uint64(k)
		written += k
		p = p[k:]
		if w.fill == segmentPayload {
			w.submit()
		}
	}
	return written, nil
}

// ReadFrom reads r to EOF straight into the segment buffers (io.Copy uses
// it). It fails with ErrTooLarge once more than MaxPayloadSize bytes arrive.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if w.done {
		return 0, ErrWriterClosed
	}
	var total int64
	for {
		if w.cur == nil {
			w.cur = w.takeJob()
		}
		k, err := io.ReadFull(r, w.cur.in[w.fill:])
		w.fill += k
		w.n += uint64(k)
		total += int64(k)
		if w.n > MaxPayloadSize {
			return total, wrapf(ErrTooLarge, "payload exceeds %d bytes (MaxPayloadSize)", uint64(MaxPayloadSize))
		}
		if w.fill == segmentPayload {
			w.submit()
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (w *Writer) takeJob() *job {
	if k := len(w.free); k > 0 {
		j := w.free[k-1]
		w.free = w.free[:k-1]
		return j
	}
	return newJob()
}

// hashLocal returns the calling goroutine's hash state.
func (w *Writer) hashLocal() *hashState {
	if w.local == nil {
		w.local = newHashState()
	}
	return w.local
}

// submit hands the full current segment to the pool (or hashes it here when
// sequential) and folds finished roots in order.
func (w *Writer) submit() {
	j := w.cur
	w.cur, w.fill = nil, 0
	w.segments++
	if w.workers == 1 && !w.async {
		w.acc.push(segmentHeight, w.hashLocal().rootOf(j.in, segmentPayload, segmentHeight))
		w.free = append(w.free, j)
		return
	}
	if w.pool == nil {
		w.pool = startPool(w.workers)
		w.cleanup = runtime.AddCleanup(w, (*pool).stop, w.pool)
	}
	w.inflight = append(w.inflight, j)
	w.pool.jobs <- j
	// Keep every worker busy and one segment queued for each while the
	// caller fills the next one.
	if len(w.inflight) >= w.workers*(1+maxQueued) {
		w.collect()
	}
}

// collect waits for the oldest in-flight segment and folds its root.
func (w *Writer) collect() {
	j := w.inflight[0]
	w.inflight = w.inflight[1:]
	w.acc.push(segmentHeight, <-j.root)
	w.free = append(w.free, j)
}

// Close stops the Writer's workers and releases its buffers; writing or
// calling Sum afterwards fails with ErrWriterClosed. Closing twice, or after
// Sum, does nothing. It never fails.
func (w *Writer) Close() error {
	w.done = true
	w.release()
	return nil
}

// release stops the pool (after the segments already submitted) and drops
// the buffers.
func (w *Writer) release() {
	if w.pool != nil {
		w.cleanup.Stop()
		w.pool.stop()
		w.pool = nil
	}
	// Segments still in flight (Close before Sum) may be read by a worker: they are
	// left to the garbage collector, the others go back to the pool.
	for _, j := range w.free {
		jobs.Put(j)
	}
	if w.cur != nil {
		jobs.Put(w.cur)
	}
	if w.local != nil {
		hashStates.Put(w.local)
	}
	w.cur, w.free, w.inflight, w.local = nil, nil, nil, nil
}

// Size returns the payload bytes written so far.
func (w *Writer) Size() uint64 { return w.n }

// Sum finishes the commitment and returns the piece, and stops the workers.
// The Writer cannot be written to afterwards. It fails with ErrWriterClosed
// after Close or a first Sum.
func (w *Writer) Sum() (Piece, error) {
	if w.done {
		return Piece{}, ErrWriterClosed
	}
	w.done = true
	for len(w.inflight) > 0 {
		w.collect()
	}
	if w.pool != nil {
		w.cleanup.Stop()
		w.pool.stop()
		w.pool = nil
	}
	height := heightFor(w.n)
	var tail [NodeSize]byte
	tailHeight := min(height, segmentHeight)
	if w.fill > 0 || w.segments == 0 {
		if w.cur != nil {
			tail = w.hashLocal().rootOf(w.cur.in, w.fill, tailHeight)
		} else {
			tail = zeroComm[tailHeight]
		}
	}
	var root [NodeSize]byte
	if w.segments == 0 {
		root = tail
	} else {
		if w.fill > 0 {
			w.acc.push(segmentHeight, tail)
		}
		root = w.acc.finish(height)
	}
	w.release()
	return Piece{Size: w.n, Height: height, Root: root}, nil
}

// heightFor is the tree height of a payload of n bytes: the smallest h ≥
// MinHeight whose capacity 127·2^(h-2) holds n.
func heightFor(n uint64) int {
	h := MinHeight
	for capacity(h) < n {
		h++
	}
	return h
}

// capacity is the payload capacity (Filecoin's unpadded size) of a tree of
// height h.
func capacity(h int) uint64 { return (uint64(NodeSize) << h) / expandedChunkSize * chunkSize }
