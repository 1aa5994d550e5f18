package client

import (
	"bytes"
	"strings"
	"testing"
)

// TestReadAllSized reads a body whose announced size is right, too small, too large or
// unknown, and one beyond the limit: always the bytes sent, cut at the limit.
func TestReadAllSized(t *testing.T) {
	body := strings.Repeat("0123456789", 1000)
	for _, tc := range []struct {
		size, limit int64
		want        string
	}{
		{int64(len(body)), 1 << 20, body},
		{10, 1 << 20, body},
		{int64(len(body)) * 3, 1 << 20, body},
		{-1, 1 << 20, body},
		{0, 1 << 20, body},
		{int64(len(body)), 100, body[:100]},
		{50, 100, body[:100]},
	} {
		got, err := readAllSized(shortReads(body), tc.size, tc.limit)
		if err != nil {
			t.Fatalf("size %d limit %d: %v", tc.size, tc.limit, err)
		}
		if !bytes.Equal(got, []byte(tc.want)) {
			t.Fatalf("size %d limit %d: read %d bytes, want %d", tc.size, tc.limit, len(got), len(tc.want))
		}
	}
}

// TestReadAllSizedAnnouncedOnly: a Content-Length announced but not sent allocates at
// most initialReplyBuffer before the bytes arrive.
func TestReadAllSizedAnnouncedOnly(t *testing.T) {
	got, err := readAllSized(shortReads("short"), 60<<20, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "short" || cap(got) > initialReplyBuffer+1 {
		t.Fatalf("read %q into a buffer of %d bytes, want %q in at most %d", got, cap(got), "short", initialReplyBuffer+1)
	}
}

// shortReads returns a reader of s that hands out at most 333 bytes a read, so
// that reads end inside the buffer as network reads do.
func shortReads(s string) *shortReader { return &shortReader{r: strings.NewReader(s)} }

type shortReader struct{ r *strings.Reader }

func (s *shortReader) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), 333)]) }
