package piece

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestComputeFile checks ComputeFile against Compute over the same bytes for
// regular files around segment boundaries, read from an offset, on 1 and 3
// workers, and for a pipe; the file's offset ends at its end.
func TestComputeFile(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	const skip = 1000 // bytes before the offset ComputeFile starts at
	dir := t.TempDir()
	for _, n := range []int{0, 1, 127, segmentPayload - 1, segmentPayload, segmentPayload + 1, 3*segmentPayload + 200, 7 * segmentPayload} {
		data := payload(skip+n, byte(n))
		want := computeBytes(t, data[skip:])
		name := filepath.Join(dir, "f")
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, procs := range []int{1, 3} {
			runtime.GOMAXPROCS(procs)
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Seek(skip, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			got, err := ComputeFile(context.Background(), f)
			if err != nil || got != want {
				t.Errorf("%d bytes, GOMAXPROCS %d: %+v %v, want %+v", n, procs, got, err, want)
			}
			if off, _ := f.Seek(0, io.SeekCurrent); off != int64(len(data)) {
				t.Errorf("%d bytes, GOMAXPROCS %d: offset %d after ComputeFile, want %d", n, procs, off, len(data))
			}
			f.Close()

			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				_, _ = pw.Write(data[skip:])
				pw.Close()
			}()
			got, err = ComputeFile(context.Background(), pr)
			pr.Close()
			if err != nil || got != want {
				t.Errorf("%d bytes through a pipe, GOMAXPROCS %d: %+v %v, want %+v", n, procs, got, err, want)
			}
		}
	}
}

// TestComputeFileStops checks that a cancelled context stops ComputeFile with
// its error and that its workers end.
func TestComputeFileStops(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, payload(5*segmentPayload, 3), 0o600); err != nil {
		t.Fatal(err)
	}
	base := settleGoroutines(0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := ComputeFile(ctx, f); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := ComputeFile(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if n := settleGoroutines(base); n > base {
		t.Errorf("after ComputeFile: %d goroutines, want %d", n, base)
	}
}

// BenchmarkCommPFile is ComputeFile over a file of the benchmark's bytes (in
// the page cache after the first op), on GOMAXPROCS workers (-cpu 1,2).
func BenchmarkCommPFile(b *testing.B) {
	name := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(name, benchData(), 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			b.Fatal(err)
		}
		if _, err := ComputeFile(context.Background(), f); err != nil {
			b.Fatal(err)
		}
	}
}

// TestComputeFileErrorNamesFile checks that a read error of ComputeFile names
// the file once, from a full segment (ReadAt) and from the tail (Read): the
// *fs.PathError of a file opened only for writing already names it.
func TestComputeFileErrorNamesFile(t *testing.T) {
	for _, n := range []int{100, 2*segmentPayload + 10} {
		name := filepath.Join(t.TempDir(), "unreadable")
		if err := os.WriteFile(name, payload(n, 1), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ComputeFile(context.Background(), f)
		f.Close()
		if err == nil || strings.Count(err.Error(), name) != 1 {
			t.Errorf("%d bytes: %v, want an error naming %s once", n, err, name)
		}
	}
}

// TestContextReader: reads go through while ctx lives and fail with its cause once it
// ends; ComputeFile's streamed tail (a pipe) stops with the cause too.
func TestContextReader(t *testing.T) {
	stop := errors.New("stopped")
	ctx, cancel := context.WithCancelCause(context.Background())
	r := ContextReader(ctx, strings.NewReader("abcdef"))
	b := make([]byte, 3)
	if n, err := r.Read(b); n != 3 || err != nil || string(b) != "abc" {
		t.Fatalf("read before the end: %d %q %v", n, b[:n], err)
	}
	cancel(stop)
	if n, err := r.Read(b); n != 0 || !errors.Is(err, stop) {
		t.Fatalf("read after the end: %d %v, want 0 and the cause", n, err)
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	ctx, cancel = context.WithCancelCause(context.Background())
	cancel(stop)
	if _, err := ComputeFile(ctx, pr); !errors.Is(err, stop) {
		t.Fatalf("ComputeFile of a pipe after the end: %v, want the cause", err)
	}
}
