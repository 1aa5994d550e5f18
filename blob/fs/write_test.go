package fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/w3dag/w3dag/internal/race"

	"github.com/w3dag/w3dag/blob"
)

// TestPutSizes puts blobs around the direct I/O alignment and the buffer size, with direct
// I/O allowed and not, checking the stored bytes and that wrong sizes or digests leave
// nothing behind.
func TestPutSizes(t *testing.T) {
	sizes := []int{0, 1, directAlign - 1, directAlign, directAlign + 1, CopyBufferSize - 1,
		CopyBufferSize, CopyBufferSize + 1, 3*CopyBufferSize + directAlign + 17, (PipelineDepth + 2) * CopyBufferSize,
		2*WritebackInterval + 5}
	for _, direct := range []bool{true, false} {
		t.Run(map[bool]string{true: "direct", false: "cached"}[direct], func(t *testing.T) {
			old := directIO
			directIO = direct
			t.Cleanup(func() { directIO = old })
			dir := t.TempDir()
			st, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			rng := rand.NewChaCha8([32]byte{7})
			for _, size := range sizes {
				data := make([]byte, size)
				rng.Read(data)
				digest := sha256.Sum256(data)
				tests := []struct {
					name string
					opts blob.PutOptions
					want error
				}{
					{"exact", blob.PutOptions{Size: int64(size), SHA256: digest[:]}, nil},
					{"unknown size", blob.PutOptions{Size: -1, SHA256: digest[:]}, nil},
					{"one byte more expected", blob.PutOptions{Size: int64(size) + 1, SHA256: digest[:]}, blob.ErrSizeMismatch},
					{"other digest", blob.PutOptions{Size: int64(size), SHA256: make([]byte, 32)}, blob.ErrDigestMismatch},
				}
				if size > 0 {
					tests = append(tests, struct {
						name string
						opts blob.PutOptions
						want error
					}{"one byte less expected", blob.PutOptions{Size: int64(size) - 1}, blob.ErrSizeMismatch})
				}
				for _, tc := range tests {
					key := "k/blob"
					st.Delete(ctx, key)
					err := st.Put(ctx, key, bytes.NewReader(data), tc.opts)
					if !errors.Is(err, tc.want) {
						t.Fatalf("size %d, %s: Put = %v, want %v", size, tc.name, err, tc.want)
					}
					got, rerr := os.ReadFile(filepath.Join(dir, "k", "blob"))
					if tc.want != nil {
						if !errors.Is(rerr, os.ErrNotExist) {
							t.Fatalf("size %d, %s: rejected Put left a blob (%v)", size, tc.name, rerr)
						}
						if _, err := os.Stat(filepath.Join(dir, "k")); !errors.Is(err, os.ErrNotExist) {
							t.Fatalf("size %d, %s: rejected Put left its directory or a temporary file: %v", size, tc.name, err)
						}
						continue
					}
					if rerr != nil || !bytes.Equal(got, data) {
						t.Fatalf("size %d, %s: stored %d bytes (%v), want the %d put", size, tc.name, len(got), rerr, size)
					}
				}
			}
		})
	}
}

// chunkyReader returns at most n bytes per Read, so buffers fill over several reads.
type chunkyReader struct {
	r io.Reader
	n int
}

func (c chunkyReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

func TestPutShortReads(t *testing.T) {
	st, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	data := make([]byte, 2*CopyBufferSize+12345)
	rand.NewChaCha8([32]byte{9}).Read(data)
	digest := sha256.Sum256(data)
	ctx := context.Background()
	if err := st.Put(ctx, "k", chunkyReader{bytes.NewReader(data), 7777}, blob.PutOptions{Size: int64(len(data)), SHA256: digest[:]}); err != nil {
		t.Fatal(err)
	}
	rc, _, err := st.Get(ctx, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want the %d put", len(got), err, len(data))
	}
}

// errAfter fails its Read once n bytes were read.
type errAfter struct {
	r   io.Reader
	n   int
	err error
}

func (e *errAfter) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, e.err
	}
	m, err := e.r.Read(p[:min(len(p), e.n)])
	e.n -= m
	return m, err
}

func TestPutSourceFails(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	boom := errors.New("connection reset")
	src := &errAfter{r: bytes.NewReader(make([]byte, 8*CopyBufferSize)), n: 5*CopyBufferSize + 3, err: boom}
	if err := st.Put(context.Background(), "d/k", src, blob.PutOptions{Size: 8 * CopyBufferSize}); !errors.Is(err, boom) {
		t.Fatalf("Put = %v, want the source's error", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "d")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("failed Put left its directory or a temporary file: %v", err)
	}
}

func TestCopyToWriteFails(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close() // writes now fail
	src := &errAfter{r: bytes.NewReader(make([]byte, 64*CopyBufferSize)), n: 64 * CopyBufferSize, err: io.EOF}
	err = copyTo(&sink{f: f}, src, sha256.New())
	if !errors.Is(err, os.ErrClosed) {
		t.Fatalf("copyTo into a closed file = %v, want os.ErrClosed", err)
	}
	if src.n < (64-2*PipelineDepth-2)*CopyBufferSize {
		t.Fatalf("copyTo read %d bytes after the first write failed", 64*CopyBufferSize-src.n)
	}
}

func TestCopyBuffersAligned(t *testing.T) {
	for range 8 {
		b := copyBuffers.Get().(*[]byte)
		if len(*b) != CopyBufferSize || uintptrOf(*b)%directAlign != 0 {
			t.Fatalf("copy buffer of %d bytes at %#x, want %d bytes aligned to %d", len(*b), uintptrOf(*b), CopyBufferSize, directAlign)
		}
		defer copyBuffers.Put(b)
	}
}

// TestCopyToStaysDirect checks that whole buffers go to the disk with direct I/O, and that
// an unaligned tail switches the file to the page cache, where the file system has direct
// I/O.
func TestCopyToStaysDirect(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|openDirect, 0o644)
	if openDirect == 0 || errors.Is(err, syscall.EINVAL) {
		t.Skip("no direct I/O on this system or file system")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := make([]byte, 3*CopyBufferSize)
	rand.NewChaCha8([32]byte{3}).Read(data)
	w := &sink{f: f, direct: true}
	if err := copyTo(w, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	if !w.direct {
		t.Fatalf("aligned buffers left direct I/O")
	}
	if err := copyTo(w, bytes.NewReader(data[:5]), sha256.New()); err != nil {
		t.Fatal(err)
	}
	if w.direct || w.off != int64(len(data)+5) {
		t.Fatalf("after an unaligned tail: direct %v, %d bytes written; want false, %d", w.direct, w.off, len(data)+5)
	}
	if got, err := os.ReadFile(name); err != nil || !bytes.Equal(got, append(data, data[:5]...)) {
		t.Fatalf("file holds %d bytes (%v), want the %d written", len(got), err, len(data)+5)
	}
}

// TestSmallPutAllocates checks that a Put of a blob known to be small allocates about
// its own size, not the pipeline's PipelineDepth*CopyBufferSize bytes of buffers: the
// archive mover, the log exporter and the schema archiver put many small blobs while
// uploads run, and each used to hold 8 MiB.
func TestSmallPutAllocates(t *testing.T) {
	st, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	data := bytes.Repeat([]byte("small blob "), 1000) // 11 kB
	sum := sha256.Sum256(data)
	put := func(i int) {
		if err := st.Put(context.Background(), "k/"+string(rune('a'+i)), bytes.NewReader(data), blob.PutOptions{Size: int64(len(data)), SHA256: sum[:]}); err != nil {
			t.Fatal(err)
		}
	}
	put(0)
	// Two collections empty copyBuffers, so a Put that takes pipeline buffers allocates
	// them afresh.
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 1; i <= 4; i++ {
		put(i)
	}
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*(SmallCopyBufferSize+64<<10)); got > limit && !race.Enabled {
		t.Errorf("4 Puts of %d bytes allocated %d bytes, want at most %d", len(data), got, limit)
	}
}

// TestPutBatchFromBytes: PutBatch writes an item without a digest from its bytes, with no
// buffer to copy them through (a log file of several MiB was copied through the pipeline's
// buffers, one of under CopyBufferSize through a new 64 KiB one), with direct I/O and not,
// whatever the bytes' alignment in memory; the stored blobs are the bytes, and an item
// whose size is not its bytes' is still refused.
func TestPutBatchFromBytes(t *testing.T) {
	if !haveSyncfs {
		t.Skip("PutBatch falls back to Put without syncfs")
	}
	ctx := context.Background()
	rng := rand.NewChaCha8([32]byte{9})
	big := make([]byte, 3*CopyBufferSize+directAlign+1)
	rng.Read(big)
	for _, direct := range []bool{true, false} {
		t.Run(map[bool]string{true: "direct", false: "cached"}[direct], func(t *testing.T) {
			old := directIO
			directIO = direct
			t.Cleanup(func() { directIO = old })
			st, err := Open(t.TempDir(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			items := []blob.BatchItem{
				{Key: "a/big", Data: big},
				{Key: "a/unaligned", Data: big[1 : 2*CopyBufferSize+1]},
				{Key: "a/small", Data: big[3:1000]},
				{Key: "a/empty", Data: nil},
			}
			for i := range items {
				items[i].Opts.Size = int64(len(items[i].Data))
			}
			if err := st.PutBatch(ctx, items); err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				rc, _, err := st.Get(ctx, it.Key, nil)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, it.Data) {
					t.Fatalf("%s: %d bytes (%v), want the %d put", it.Key, len(got), err, len(it.Data))
				}
			}
			bad := []blob.BatchItem{{Key: "a/bad", Data: big[:10], Opts: blob.PutOptions{Size: 11}}}
			if err := st.PutBatch(ctx, bad); !errors.Is(err, blob.ErrSizeMismatch) {
				t.Fatalf("a 10-byte item of Size 11: %v, want ErrSizeMismatch", err)
			}
			// Allocations: an item of 1 MiB is not copied through a buffer of its own.
			data := big[:1<<20]
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for i := range 4 {
				if err := st.PutBatch(ctx, []blob.BatchItem{{Key: "b/" + string(rune('a'+i)), Data: data, Opts: blob.PutOptions{Size: int64(len(data))}}}); err != nil {
					t.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*16<<10); got > limit && !race.Enabled {
				t.Errorf("4 PutBatch of %d bytes allocated %d bytes, want at most %d", len(data), got, limit)
			}
		})
	}
}
