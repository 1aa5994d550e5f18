package fs_test

import (
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/fs"
)

// benchSize is the blob size of the fs benchmarks.
const benchSize = 64 << 20

// zeroStream yields n pseudo-random bytes without holding them.
type zeroStream struct {
	rng *rand.ChaCha8
	n   int64
}

func (z *zeroStream) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), z.n)]
	z.rng.Read(p)
	z.n -= int64(len(p))
	return len(p), nil
}

func BenchmarkPut(b *testing.B) {
	st, err := fs.Open(b.TempDir(), fs.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	b.SetBytes(benchSize)
	for b.Loop() {
		src := &zeroStream{rng: rand.NewChaCha8([32]byte{1}), n: benchSize}
		if err := st.Put(ctx, "bench/put", src, blob.PutOptions{Size: benchSize}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	st, err := fs.Open(b.TempDir(), fs.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	src := &zeroStream{rng: rand.NewChaCha8([32]byte{1}), n: benchSize}
	if err := st.Put(ctx, "bench/get", src, blob.PutOptions{Size: benchSize}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	for b.Loop() {
		rc, _, err := st.Get(ctx, "bench/get", nil)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != benchSize {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
}
