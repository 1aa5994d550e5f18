package piece

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// benchSize is the payload of each benchmark iteration: 64 full segments.
const benchSize = 64 * segmentPayload

func benchData() []byte {
	b := make([]byte, benchSize)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(b)
	return b
}

// BenchmarkSHA256 is plain crypto/sha256 over the same bytes, the yardstick
// for the commP benchmarks in the same run.
func BenchmarkSHA256(b *testing.B) {
	data := benchData()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		sha256.Sum256(data)
	}
}

// BenchmarkSHA256Split hashes the same bytes as GOMAXPROCS independent
// slices on as many goroutines: the parallelism the machine actually gives
// in this run (on a shared box, less than the core count), the yardstick for
// the commP speed-up.
func BenchmarkSHA256Split(b *testing.B) {
	data := benchData()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := runtime.GOMAXPROCS(0)
	for b.Loop() {
		var wg sync.WaitGroup
		part := len(data) / n
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(p []byte) {
				defer wg.Done()
				sha256.Sum256(p)
			}(data[i*part : (i+1)*part])
		}
		wg.Wait()
	}
}

func benchCommP(b *testing.B, workers int) {
	data := benchData()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		w := NewWriterWorkers(workers)
		if _, err := w.ReadFrom(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		if _, err := w.Sum(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommPSequential hashes on the calling goroutine only.
func BenchmarkCommPSequential(b *testing.B) { benchCommP(b, 1) }

// BenchmarkCommPParallel uses GOMAXPROCS workers (run with -cpu 1,2).
func BenchmarkCommPParallel(b *testing.B) { benchCommP(b, runtime.GOMAXPROCS(0)) }

// BenchmarkNodeFunction reduces one 32 KiB block of leaves to the next level
// (512 node hashes of 64 bytes) with each node function this machine has;
// MB/s counts the input. The block is copied into place each time (about 1 %
// of the time).
func BenchmarkNodeFunction(b *testing.B) {
	src := benchData()[:blockPadded]
	buf := make([]byte, len(src))
	saved := useSHANI
	defer func() { useSHANI = saved }()
	for _, impl := range []struct {
		name   string
		shani  bool
		exists bool
	}{{"sha-ni", true, saved}, {"portable", false, true}} {
		if !impl.exists {
			continue
		}
		b.Run(impl.name, func(b *testing.B) {
			useSHANI = impl.shani
			h := newHasher()
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				copy(buf, src)
				h.reduceLevel(buf, len(src)/NodeSize)
			}
		})
	}
}
