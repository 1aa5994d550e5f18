package carscan_test

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/w3dag/w3dag/carscan"
)

// benchReaderBlocks is the number of 1 MiB blocks of the CAR the Reader benchmarks read.
const benchReaderBlocks = 128

func benchReaderCAR() []byte {
	rng := rand.NewChaCha8([32]byte{7})
	blocks := make([][]byte, benchReaderBlocks)
	for i := range blocks {
		blocks[i] = make([]byte, 1<<20)
		rng.Read(blocks[i])
	}
	return car(blocks...)
}

// BenchmarkReader reads a CAR of 1 MiB raw blocks through a Reader into a sha2-256 of
// the whole, in 2 MiB reads, as the upload endpoint does (blob/fs's buffers): the whole
// hash on the reading goroutine, every block's on the scan's. Two cores can at best run
// it at the speed of BenchmarkReaderSHA256.
func BenchmarkReader(b *testing.B) {
	data := benchReaderCAR()
	buf := make([]byte, 2<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := carscan.NewReader(&onlyReader{data: data})
		h := sha256.New()
		if _, err := io.CopyBuffer(h, r, buf); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Result(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaderSHA256 is one sha2-256 over BenchmarkReader's bytes, on one core.
func BenchmarkReaderSHA256(b *testing.B) {
	data := benchReaderCAR()
	buf := make([]byte, 2<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		h := sha256.New()
		if _, err := io.CopyBuffer(h, &onlyReader{data: data}, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// onlyReader reads data with no WriterTo, so io.CopyBuffer goes through its buffer.
type onlyReader struct {
	data []byte
	off  int
}

func (r *onlyReader) Read(p []byte) (int, error) {
	if r.off == len(r.data) {
		return 0, io.EOF
	}
	n := copy(p, r.data[r.off:])
	r.off += n
	return n, nil
}
