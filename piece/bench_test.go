package piece

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"runtime"
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
