package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/w3dag/w3dag/blob"
)

func TestValidKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"a", true},
		{"carpark/bafy/bafy.car", true},
		{"workflow/x/x", true},
		{"a-b_c.d=e/F9", true},
		{"..a/b..", true},
		{"...", true},
		{strings.Repeat("k", blob.MaxKeyLength), true},
		{strings.Repeat("k", blob.MaxKeyLength+1), false},
		{"", false},
		{"/", false},
		{"/abs", false},
		{"a/", false},
		{"a//b", false},
		{".", false},
		{"..", false},
		{"../x", false},
		{"a/../b", false},
		{"a/./b", false},
		{"a b", false},
		{`a\b`, false},
		{"a~b", false},
		{"a%2Fb", false},
		{"é", false},
		{"a\x00", false},
	}
	for _, tc := range tests {
		if got := blob.ValidKey(tc.key); got != tc.want {
			t.Errorf("ValidKey(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

// FuzzValidKey checks that every key ValidKey accepts is a clean, local, relative path, so
// that joining it to a directory never leaves that directory.
func FuzzValidKey(f *testing.F) {
	for _, k := range []string{"a", "carpark/x/x.car", "../x", "a//b", "/abs", "a/./b", "..."} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if !blob.ValidKey(key) {
			return
		}
		if path.Clean(key) != key || !filepath.IsLocal(key) || strings.HasPrefix(key, "/") {
			t.Fatalf("ValidKey accepted %q, which is not a clean local path", key)
		}
		if j := filepath.Join("/root", key); !strings.HasPrefix(j, "/root/") {
			t.Fatalf("ValidKey accepted %q, which joins to %q", key, j)
		}
	})
}

func TestBounds(t *testing.T) {
	tests := []struct {
		rng     *blob.Range
		size    int64
		off, n  int64
		invalid bool
	}{
		{nil, 10, 0, 10, false},
		{nil, 0, 0, 0, false},
		{&blob.Range{Start: 0, End: 9}, 10, 0, 10, false},
		{&blob.Range{Start: 3, End: -1}, 10, 3, 7, false},
		{&blob.Range{Start: 9, End: 9}, 10, 9, 1, false},
		{&blob.Range{Start: 10, End: -1}, 10, 0, 0, true},
		{&blob.Range{Start: 0, End: 10}, 10, 0, 0, true},
		{&blob.Range{Start: 5, End: 4}, 10, 0, 0, true},
		{&blob.Range{Start: -1, End: 4}, 10, 0, 0, true},
		{&blob.Range{Start: 0, End: -1}, 0, 0, 0, true},
	}
	for _, tc := range tests {
		off, n, err := tc.rng.Bounds(tc.size)
		if tc.invalid {
			if !errors.Is(err, blob.ErrInvalidRange) {
				t.Errorf("%+v.Bounds(%d) error = %v, want ErrInvalidRange", tc.rng, tc.size, err)
			}
			continue
		}
		if err != nil || off != tc.off || n != tc.n {
			t.Errorf("%+v.Bounds(%d) = %d, %d, %v; want %d, %d", tc.rng, tc.size, off, n, err, tc.off, tc.n)
		}
	}
}

func digest(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func TestVerify(t *testing.T) {
	data := []byte("the quick brown fox jumps over the lazy dog")
	tests := []struct {
		name string
		opts blob.PutOptions
		want error
	}{
		{"unknown", blob.PutOptions{Size: -1}, nil},
		{"exact", blob.PutOptions{Size: int64(len(data)), SHA256: digest(data)}, nil},
		{"digest only", blob.PutOptions{Size: -1, SHA256: digest(data)}, nil},
		{"short", blob.PutOptions{Size: int64(len(data)) + 1}, blob.ErrSizeMismatch},
		{"long", blob.PutOptions{Size: int64(len(data)) - 1}, blob.ErrSizeMismatch},
		{"zero", blob.PutOptions{}, blob.ErrSizeMismatch},
		{"digest", blob.PutOptions{Size: int64(len(data)), SHA256: digest(nil)}, blob.ErrDigestMismatch},
	}
	readers := map[string]func([]byte) io.Reader{
		"plain":    func(b []byte) io.Reader { return bytes.NewReader(b) },
		"one byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"data+EOF": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
		"half":     func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
	}
	for _, tc := range tests {
		for rname, mk := range readers {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				vr, err := blob.Verify(context.Background(), mk(data), tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(vr)
				if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
					t.Fatalf("reading = %v, want %v", err, tc.want)
				}
				if tc.want == nil && !bytes.Equal(got, data) {
					t.Fatalf("read %q, want %q", got, data)
				}
				if int64(len(got)) > max(tc.opts.Size, int64(len(data))) || (tc.opts.Size >= 0 && int64(len(got)) > tc.opts.Size) {
					t.Fatalf("read %d bytes past the expected size %d", len(got), tc.opts.Size)
				}
				if _, err2 := vr.Read(make([]byte, 1)); tc.want != nil && !errors.Is(err2, tc.want) {
					t.Fatalf("error not sticky: then %v", err2)
				}
			})
		}
	}
}

// A consumer that reads exactly Size bytes and stops still learns of a mismatch.
func TestVerifyExactConsumer(t *testing.T) {
	data := []byte("0123456789")
	vr, _ := blob.Verify(context.Background(), bytes.NewReader(data), blob.PutOptions{Size: 10, SHA256: digest([]byte("x"))})
	if n, err := vr.Read(make([]byte, 10)); n != 10 || !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("reading exactly Size bytes = %d, %v; want 10, ErrDigestMismatch", n, err)
	}
	vr, _ = blob.Verify(context.Background(), bytes.NewReader(data), blob.PutOptions{Size: 9})
	if n, err := vr.Read(make([]byte, 9)); n != 9 || !errors.Is(err, blob.ErrSizeMismatch) {
		t.Fatalf("reading Size bytes from a longer source = %d, %v; want 9, ErrSizeMismatch", n, err)
	}
	vr, _ = blob.Verify(context.Background(), bytes.NewReader(data), blob.PutOptions{Size: 10, SHA256: digest(data)})
	if n, err := vr.Read(make([]byte, 64)); n != 10 || err != io.EOF {
		t.Fatalf("reading a matching source = %d, %v; want 10, io.EOF", n, err)
	}
}

func TestVerifyErrors(t *testing.T) {
	for _, opts := range []blob.PutOptions{{Size: -2}, {Size: 1, SHA256: []byte{1}}, {Size: -1, SHA256: []byte{}}} {
		if _, err := blob.Verify(context.Background(), nil, opts); !errors.Is(err, blob.ErrInvalidOptions) {
			t.Errorf("Verify with %+v = %v, want ErrInvalidOptions", opts, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	vr, _ := blob.Verify(ctx, strings.NewReader("abc"), blob.PutOptions{Size: -1})
	cancel()
	if _, err := io.ReadAll(vr); !errors.Is(err, context.Canceled) {
		t.Errorf("reading after cancel = %v", err)
	}
	boom := errors.New("boom")
	vr, _ = blob.Verify(context.Background(), iotest.ErrReader(boom), blob.PutOptions{Size: 3})
	if _, err := io.ReadAll(vr); !errors.Is(err, boom) {
		t.Errorf("reading a failing source = %v", err)
	}
}

func TestNewHTTPRequest(t *testing.T) {
	req := blob.Request{
		Method:  "PUT",
		URL:     "https://s3.example/b/k?X-Amz-Signature=1",
		Headers: map[string]string{"Content-Length": "5", "x-amz-checksum-sha256": "abc="},
	}
	hr, err := req.NewHTTPRequest(context.Background(), strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if hr.Method != "PUT" || hr.ContentLength != 5 || hr.Header.Get("X-Amz-Checksum-Sha256") != "abc=" || hr.Header.Get("Content-Length") != "" {
		t.Fatalf("request = %s %d %v", hr.Method, hr.ContentLength, hr.Header)
	}
	req.Headers["Content-Length"] = "five"
	if _, err := req.NewHTTPRequest(context.Background(), nil); err == nil {
		t.Fatal("bad Content-Length accepted")
	}
	req.URL = "://bad"
	req.Headers = nil
	if _, err := req.NewHTTPRequest(context.Background(), nil); err == nil {
		t.Fatal("bad URL accepted")
	}
}

func TestDigestCheck(t *testing.T) {
	data := []byte("0123456789")
	tests := []struct {
		name   string
		want   []byte
		writes [][]byte
		err    error
	}{
		{"whole", digest(data), [][]byte{data}, nil},
		{"in pieces", digest(data), [][]byte{data[:3], nil, data[3:]}, nil},
		{"empty", digest(nil), nil, nil},
		{"missing byte", digest(data), [][]byte{data[:9]}, blob.ErrDigestMismatch},
		{"other bytes", digest(data), [][]byte{[]byte("9876543210")}, blob.ErrDigestMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := blob.NewDigestCheck(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.writes {
				if n, err := d.Write(w); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if err := d.Check(); !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, tc.err)
			}
		})
	}
	for _, want := range [][]byte{nil, make([]byte, 31), make([]byte, 33)} {
		if _, err := blob.NewDigestCheck(want); !errors.Is(err, blob.ErrInvalidOptions) {
			t.Errorf("NewDigestCheck of %d bytes = %v, want ErrInvalidOptions", len(want), err)
		}
	}
}

// TestVerifySizeOnly checks that Verify without a digest still enforces the size.
func TestVerifySizeOnly(t *testing.T) {
	data := []byte("0123456789")
	for _, tc := range []struct {
		size int64
		err  error
	}{{10, nil}, {-1, nil}, {9, blob.ErrSizeMismatch}, {11, blob.ErrSizeMismatch}} {
		vr, err := blob.Verify(context.Background(), bytes.NewReader(data), blob.PutOptions{Size: tc.size})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(vr)
		if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Fatalf("size %d: read %q, %v; want %v", tc.size, got, err, tc.err)
		}
	}
}
