package carscan_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/carscan"
)

func TestScanGood(t *testing.T) {
	a, b := []byte("hello"), bytes.Repeat([]byte{7}, 3000)
	data := car(a, b, a) // repeats are kept
	res, err := carscan.Scan(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Roots) != 1 || !res.Roots[0].Equals(rawCID(a, multihash.SHA2_256)) {
		t.Fatalf("roots %v", res.Roots)
	}
	if res.Size != int64(len(data)) || len(res.Blocks) != 3 {
		t.Fatalf("size %d blocks %d", res.Size, len(res.Blocks))
	}
	for i, want := range [][]byte{a, b, a} {
		bl := res.Blocks[i]
		if got := data[bl.Offset : bl.Offset+bl.Length]; !bytes.Equal(got, want) {
			t.Fatalf("block %d at %d+%d is %q", i, bl.Offset, bl.Length, got)
		}
		if !bytes.Equal(bl.Multihash, rawCID(want, multihash.SHA2_256).Hash()) {
			t.Fatalf("block %d multihash %x", i, bl.Multihash)
		}
	}
}

func TestScanHashFunctions(t *testing.T) {
	for _, code := range []uint64{multihash.SHA2_256, multihash.SHA2_512, multihash.BLAKE3, multihash.IDENTITY, multihash.SHA3_256} {
		d := []byte("some bytes")
		c := rawCID(d, code)
		data := append(header(1, c), section(c, d)...)
		if _, err := carscan.Scan(bytes.NewReader(data)); err != nil {
			t.Errorf("%s: %v", multihash.Codes[code], err)
		}
		bad := append(header(1, c), section(c, []byte("other bytes"))...)
		if _, err := carscan.Scan(bytes.NewReader(bad)); !errors.Is(err, carscan.ErrMismatch) {
			t.Errorf("%s: a wrong block gives %v", multihash.Codes[code], err)
		}
	}
}

func TestScanBroken(t *testing.T) {
	good := car([]byte("one"), []byte("two"), []byte("three"))
	other := rawCID([]byte("other"), multihash.SHA2_256)
	wrong := append(car([]byte("one")), section(rawCID([]byte("x"), multihash.SHA2_256), []byte("y"))...)
	for _, tc := range []struct {
		name string
		data []byte
		err  error
		msg  string
	}{
		{"empty", nil, carscan.ErrNotCAR, "not a CAR: the stream is empty"},
		{"text", []byte("# README\nhello\n"), carscan.ErrNotCAR, "not a CAR: the stream ends inside the 35-byte header"},
		{"mp4-ish", append([]byte{0, 0, 0, 0x20}, []byte("ftypisom")...), carscan.ErrNotCAR, "header is empty"},
		{"version 2", header(2, other), carscan.ErrNotCAR, "version 2"},
		{"truncated header", good[:5], carscan.ErrNotCAR, "inside the"},
		{"truncated section", good[:len(good)-2], carscan.ErrTruncated, "block 2"},
		{"truncated length", append(bytes.Clone(good), 0x80), carscan.ErrTruncated, "block 3"},
		{"wrong block", wrong, carscan.ErrMismatch, "block 1 (" + rawCID([]byte("x"), multihash.SHA2_256).String() + ") does not match its CID"},
		{"zero section", append(bytes.Clone(good), 0), carscan.ErrNotCAR, "zero-length"},
		{"huge section", append(bytes.Clone(good), 0xff, 0xff, 0xff, 0x7f), carscan.ErrTooLarge, "block 3"},
		{"bad cid", append(bytes.Clone(good), 3, 0x01, 0x99, 0x99), carscan.ErrMismatch, "CID cannot be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := carscan.Scan(bytes.NewReader(tc.data))
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v containing %q", err, tc.err, tc.msg)
			}
		})
	}
}

// TestTestdata scans the CARs in testdata: good-* scan, every other file fails with the
// error its name starts with.
func TestTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/*.car")
	if err != nil || len(files) < 4 {
		t.Fatalf("testdata: %v %v", files, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		_, err = carscan.Scan(bytes.NewReader(data))
		var want error
		switch {
		case strings.HasPrefix(name, "good-"):
		case strings.HasPrefix(name, "notcar-"):
			want = carscan.ErrNotCAR
		case strings.HasPrefix(name, "truncated-"):
			want = carscan.ErrTruncated
		case strings.HasPrefix(name, "mismatch-"):
			want = carscan.ErrMismatch
		default:
			t.Fatalf("%s: unknown kind", name)
		}
		if (want == nil && err != nil) || (want != nil && !errors.Is(err, want)) {
			t.Errorf("%s: got %v, want %v", name, err, want)
		}
	}
}

func TestReader(t *testing.T) {
	good := car([]byte("one"), bytes.Repeat([]byte("two"), 100000))
	r := carscan.NewReader(iotest.HalfReader(bytes.NewReader(good)))
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, good) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	res, err := r.Result()
	if err != nil || len(res.Blocks) != 2 {
		t.Fatalf("result %v %v", res, err)
	}

	bad := append(bytes.Clone(good), section(rawCID([]byte("x"), multihash.SHA2_256), []byte("y"))...)
	r = carscan.NewReader(bytes.NewReader(bad))
	if _, err := io.ReadAll(r); !errors.Is(err, carscan.ErrMismatch) {
		t.Fatalf("a bad CAR read to its end gives %v", err)
	}
	if _, err := r.Result(); !errors.Is(err, carscan.ErrMismatch) {
		t.Fatalf("result %v", err)
	}

	// Not a CAR: the reader fails before the stream ends.
	junk := bytes.Repeat([]byte("not a car at all "), 1<<16)
	r = carscan.NewReader(bytes.NewReader(junk))
	n, err := io.Copy(io.Discard, r)
	if !errors.Is(err, carscan.ErrNotCAR) || n == int64(len(junk)) {
		t.Fatalf("copied %d of %d: %v", n, len(junk), err)
	}

	// Closed early: the scan stops.
	r = carscan.NewReader(bytes.NewReader(good))
	if _, err := r.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := r.Result(); err == nil {
		t.Fatal("a closed reader has a result")
	}
}

func FuzzScan(f *testing.F) {
	f.Add(car([]byte("a"), []byte("bc")))
	f.Add(header(1))
	f.Add([]byte{0x0a, 0xa1})
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := carscan.Scan(bytes.NewReader(data))
		if err != nil {
			return
		}
		if res.Size != int64(len(data)) {
			t.Fatalf("scanned %d of %d bytes", res.Size, len(data))
		}
		for _, b := range res.Blocks {
			if b.Offset < 0 || b.Length < 0 || b.Offset+b.Length > res.Size {
				t.Fatalf("block %+v outside %d bytes", b, res.Size)
			}
		}
	})
}
