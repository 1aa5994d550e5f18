package readall

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestSized reads a body whose announced length is right, too small, too large, zero or
// unknown: always the bytes sent, into a first buffer of the announced length when that
// is within maxFirst.
func TestSized(t *testing.T) {
	body := strings.Repeat("0123456789", 1000)
	for _, tc := range []struct {
		announced, maxFirst int64
		firstCap            int // the capacity of a buffer that never grew
	}{
		{int64(len(body)), 1 << 20, len(body) + 1},
		{10, 1 << 20, 0},
		{int64(len(body)) * 3, 1 << 20, len(body)*3 + 1},
		{-1, 1 << 20, 0},
		{0, 1 << 20, 0},
		{int64(len(body)), 100, 0},
	} {
		got, err := Sized(shortReads(body), tc.announced, tc.maxFirst)
		if err != nil || !bytes.Equal(got, []byte(body)) {
			t.Fatalf("announced %d, maxFirst %d: read %d bytes, %v; want %d", tc.announced, tc.maxFirst, len(got), err, len(body))
		}
		if tc.firstCap != 0 && cap(got) != tc.firstCap {
			t.Errorf("announced %d, maxFirst %d: buffer of %d bytes, want %d", tc.announced, tc.maxFirst, cap(got), tc.firstCap)
		}
	}
	// Announced but not sent: the first buffer is at most maxFirst (and one byte).
	got, err := Sized(shortReads("short"), 60<<20, 1<<20)
	if err != nil || string(got) != "short" || cap(got) > 1<<20+1 {
		t.Fatalf("read %q, %v into a buffer of %d bytes, want %q in at most %d", got, err, cap(got), "short", 1<<20+1)
	}
}

// TestSizedError: an error of the reader is returned with the bytes read before it (the
// server tells how far a slow body came).
func TestSizedError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("partial"), errReader{boom})
	got, err := Sized(r, 100, 1<<20)
	if !errors.Is(err, boom) || string(got) != "partial" {
		t.Fatalf("Sized = %q, %v; want %q, %v", got, err, "partial", boom)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// shortReads returns a reader of s that hands out at most 333 bytes a read, so that reads
// end inside the buffer as network reads do.
func shortReads(s string) io.Reader { return &shortReader{r: strings.NewReader(s)} }

type shortReader struct{ r *strings.Reader }

func (s *shortReader) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), 333)]) }
