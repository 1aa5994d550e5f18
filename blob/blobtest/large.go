package blobtest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/w3dag/w3dag/internal/race"

	"github.com/w3dag/w3dag/blob"
)

// stream is a reproducible pseudo-random reader of n bytes that holds nothing in memory.
type stream struct {
	rng *rand.ChaCha8
	n   int64
}

func newStream(seed uint64, n int64) *stream {
	return &stream{rng: rand.NewChaCha8(seedOf(seed)), n: n}
}

func (s *stream) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.n {
		p = p[:s.n]
	}
	s.rng.Read(p)
	s.n -= int64(len(p))
	return len(p), nil
}

// liveHeap returns the live heap right after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// peakHeapDuring runs f while sampling the live heap, and returns its growth at the peak.
func peakHeapDuring(f func()) int64 {
	base := liveHeap()
	peak := base
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				peak = max(peak, liveHeap())
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	peak = max(peak, liveHeap()) // also catches a store that keeps what it was given
	return peak - base
}

func testLarge(t *testing.T, st blob.Store, opts Options) {
	ctx := ctxT(t)
	const seed = 42
	h := sha256.New()
	if _, err := io.Copy(h, newStream(seed, opts.LargeSize)); err != nil {
		t.Fatal(err)
	}
	sum := h.Sum(nil)
	var err error
	start := time.Now()
	grew := peakHeapDuring(func() {
		err = st.Put(ctx, "large/blob", newStream(seed, opts.LargeSize), blob.PutOptions{Size: opts.LargeSize, SHA256: sum})
	})
	if err != nil {
		t.Fatalf("Put of %d streamed bytes: %v", opts.LargeSize, err)
	}
	t.Logf("put %d bytes in %v; live heap grew by at most %d bytes", opts.LargeSize, time.Since(start), grew)
	if opts.MaxPutHeap > 0 && grew > opts.MaxPutHeap && !race.Enabled {
		t.Errorf("live heap grew by %d bytes during the Put, more than %d: Put does not stream", grew, opts.MaxPutHeap)
	}

	rc, info, err := st.Get(ctx, "large/blob", nil)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	h.Reset()
	n, err := io.Copy(h, rc)
	rc.Close()
	if err != nil || n != opts.LargeSize || info.Size != opts.LargeSize || !bytes.Equal(h.Sum(nil), sum) {
		t.Fatalf("Get returned %d bytes (info size %d, err %v, sha256 %x), want %d bytes with sha256 %x", n, info.Size, err, h.Sum(nil), opts.LargeSize, sum)
	}

	// A large Put that turns out one byte short stores nothing.
	err = st.Put(ctx, "large/short", newStream(seed, opts.LargeSize-1), blob.PutOptions{Size: opts.LargeSize, SHA256: sum})
	if !errors.Is(err, blob.ErrSizeMismatch) {
		t.Fatalf("short large Put = %v, want ErrSizeMismatch", err)
	}
	mustBeAbsent(t, st, "large/short")
}
