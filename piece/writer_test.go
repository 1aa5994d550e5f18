package piece

import (
	"bytes"
	"errors"
	"io"
	"os"
	"runtime"
	"testing"
	"time"
)

// naiveRoot expands the whole payload at once and hashes the full tree with
// crypto/sha256 (refNode), sharing no code with the streaming path but
// fr32Expand.
func naiveRoot(data []byte) [NodeSize]byte {
	h := heightFor(uint64(len(data)))
	in := make([]byte, capacity(h))
	copy(in, data)
	level := make([]byte, capacity(h)/chunkSize*expandedChunkSize)
	fr32Expand(level, in)
	for len(level) > NodeSize {
		next := make([]byte, len(level)/2)
		for i := 0; i < len(level); i += 2 * NodeSize {
			n := refNode(level[i : i+2*NodeSize])
			copy(next[i/2:], n[:])
		}
		level = next
	}
	return [NodeSize]byte(level)
}

// TestStreamingMatchesNaive covers payloads around segment boundaries, with
// writes of awkward sizes, sequentially and in parallel.
func TestStreamingMatchesNaive(t *testing.T) { nodeImpls(t, testStreamingMatchesNaive) }

func testStreamingMatchesNaive(t *testing.T) {
	for _, n := range []int{0, 1, 126, 127, 128, 254, 255, segmentPayload - 1, segmentPayload, segmentPayload + 1, 3*segmentPayload + 200} {
		data := payload(n, byte(n))
		want := naiveRoot(data)
		for _, workers := range []int{-1, 1, 2, 3} {
			w := NewWriterWorkers(workers)
			if workers < 0 { // one worker, off the caller
				w = NewWriterAsync(1)
			}
			for rest := data; len(rest) > 0; {
				k := min(len(rest), 77777)
				if _, err := w.Write(rest[:k]); err != nil {
					t.Fatal(err)
				}
				rest = rest[k:]
			}
			p, err := w.Sum()
			if err != nil || p.Root != want || p.Size != uint64(n) || p.Height != heightFor(uint64(n)) {
				t.Errorf("%d bytes, %d workers: %+v %v, want root %x", n, workers, p, err, want)
			}
		}
	}
}

func TestWriterErrors(t *testing.T) {
	w := NewWriter()
	w.n = MaxPayloadSize - 10
	if _, err := w.Write(make([]byte, 11)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("past MaxPayloadSize: %v", err)
	}
	if _, err := w.Write(make([]byte, 10)); err != nil {
		t.Errorf("up to MaxPayloadSize: %v", err)
	}
	if _, err := w.Sum(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte{1}); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("Write after Sum: %v", err)
	}
	if _, err := w.Sum(); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("Sum after Sum: %v", err)
	}
	boom := errors.New("boom")
	if _, err := Compute(io.MultiReader(bytes.NewReader(make([]byte, 5000)), errReader{boom})); !errors.Is(err, boom) {
		t.Errorf("reader error: %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// zeroReader yields n zero bytes.
type zeroReader struct{ n int64 }

func (z *zeroReader) Read(b []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	k := int64(len(b))
	if k > z.n {
		k = z.n
	}
	clear(b[:k])
	z.n -= k
	return int(k), nil
}

// TestLarge32GiBZeros streams a full 32 GiB piece of zeros (127·2^28 bytes)
// and checks the FRC-0069 CIDs. It takes minutes: W3DAG_TEST_LARGE=1.
func TestLarge32GiBZeros(t *testing.T) {
	if os.Getenv("W3DAG_TEST_LARGE") != "1" {
		t.Skip("set W3DAG_TEST_LARGE=1 to stream 34 GB of zeros")
	}
	p, err := Compute(&zeroReader{n: 127 << 28})
	if err != nil {
		t.Fatal(err)
	}
	if v1, _ := p.V1(); v1.String() != "baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq" ||
		p.CID().String() != "bafkzcibcaapao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq" {
		t.Errorf("32 GiB of zeros: %s %s", v1, p.CID())
	}
}

// settleGoroutines waits (collecting garbage) until at most want goroutines
// run, and returns how many run.
func settleGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 200 && n > want; i++ {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// TestWriterPoolStops checks that the workers a Writer starts end with Sum,
// with Close, and when a Writer is dropped without either — and that a
// sequential Writer starts none.
func TestWriterPoolStops(t *testing.T) {
	data := payload(3*segmentPayload+5, 9)
	base := settleGoroutines(0)
	write := func(w *Writer) {
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}

	w := NewWriterWorkers(4)
	write(w)
	if n := runtime.NumGoroutine(); n < base+4 {
		t.Fatalf("%d goroutines while writing with 4 workers, want ≥ %d", n, base+4)
	}
	if _, err := w.Sum(); err != nil {
		t.Fatal(err)
	}
	if n := settleGoroutines(base); n > base {
		t.Errorf("after Sum: %d goroutines, want %d", n, base)
	}

	w = NewWriterWorkers(4)
	write(w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := settleGoroutines(base); n > base {
		t.Errorf("after Close: %d goroutines, want %d", n, base)
	}
	if _, err := w.Write([]byte{1}); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if _, err := w.Sum(); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("Sum after Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// Forgotten: neither Sum nor Close; the cleanup stops the pool.
	func() {
		w := NewWriterWorkers(4)
		write(w)
	}()
	if n := settleGoroutines(base); n > base {
		t.Errorf("Writer dropped without Close: %d goroutines, want %d", n, base)
	}

	w = NewWriterWorkers(1)
	write(w)
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("sequential Writer: %d goroutines, want %d", n, base)
	}
	if _, err := w.Sum(); err != nil {
		t.Fatal(err)
	}

	// Async with one worker: a goroutine hashes, and stops with Sum.
	w = NewWriterAsync(1)
	write(w)
	if n := runtime.NumGoroutine(); n < base+1 {
		t.Errorf("async Writer with 1 worker: %d goroutines, want ≥ %d", n, base+1)
	}
	if _, err := w.Sum(); err != nil {
		t.Fatal(err)
	}
	if n := settleGoroutines(base); n > base {
		t.Errorf("async Writer after Sum: %d goroutines, want %d", n, base)
	}
}
