package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/w3dag/w3dag/blob"
)

// DefaultLargeSize is the size of the blob streamed by the large-put test unless
// Options.LargeSize says otherwise.
const DefaultLargeSize = 64 << 20

// Options tune the suite for a backend. The zero value runs every check with defaults.
type Options struct {
	// LargeSize is the size of the blob streamed by the large-put test. Zero means
	// DefaultLargeSize.
	LargeSize int64
	// MaxPutHeap bounds how much the live heap may grow while the large blob is put.
	// Zero means LargeSize/4; negative disables the check (for in-memory stores).
	MaxPutHeap int64
}

// Run runs the contract suite with default Options. open must return a fresh, empty store
// each time it is called (it is called once per subtest); it should register any cleanup
// with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	RunOptions(t, open, Options{})
}

// RunOptions runs the contract suite with opts.
func RunOptions(t *testing.T, open func(t *testing.T) blob.Store, opts Options) {
	if opts.LargeSize == 0 {
		opts.LargeSize = DefaultLargeSize
	}
	if opts.MaxPutHeap == 0 {
		opts.MaxPutHeap = opts.LargeSize / 4
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, st blob.Store)
	}{
		{"PutGetStat", testPutGetStat},
		{"Replace", testReplace},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"List", testList},
		{"ListStop", testListStop},
		{"Verify", testVerify},
		{"FailingReader", testFailingReader},
		{"Canceled", testCanceled},
		{"Ranges", testRanges},
		{"InvalidKeys", testInvalidKeys},
		{"NestedKeys", testNestedKeys},
		{"Large", func(t *testing.T, st blob.Store) { testLarge(t, st, opts) }},
		{"Concurrent", testConcurrent},
		{"Presign", testPresign},
		{"Batch", testBatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// randomBytes returns n bytes derived from seed.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8(seedOf(seed)).Read(b)
	return b
}

func seedOf(seed uint64) [32]byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return s
}

func digest(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func exact(b []byte) blob.PutOptions {
	return blob.PutOptions{Size: int64(len(b)), SHA256: digest(b)}
}

func mustPut(t *testing.T, st blob.Store, key string, data []byte) {
	t.Helper()
	if err := st.Put(ctxT(t), key, bytes.NewReader(data), exact(data)); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
}

func mustGet(t *testing.T, st blob.Store, key string, rng *blob.Range) ([]byte, blob.Info) {
	t.Helper()
	rc, info, err := st.Get(ctxT(t), key, rng)
	if err != nil {
		t.Fatalf("Get(%q, %v): %v", key, rng, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q, %v): reading: %v", key, rng, err)
	}
	return b, info
}

// mustHold checks that key holds exactly want.
func mustHold(t *testing.T, st blob.Store, key string, want []byte) {
	t.Helper()
	got, info := mustGet(t, st, key, nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %d bytes (sha256 %x), want %d bytes (sha256 %x)", key, len(got), digest(got), len(want), digest(want))
	}
	if info.Key != key || info.Size != int64(len(want)) {
		t.Fatalf("Get(%q) info = %+v, want key %q size %d", key, info, key, len(want))
	}
}

// mustBeAbsent checks that key holds no blob.
func mustBeAbsent(t *testing.T, st blob.Store, key string) {
	t.Helper()
	if info, err := st.Stat(ctxT(t), key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat(%q) = %+v, %v; want ErrNotFound", key, info, err)
	}
	if rc, _, err := st.Get(ctxT(t), key, nil); !errors.Is(err, blob.ErrNotFound) {
		if err == nil {
			rc.Close()
		}
		t.Fatalf("Get(%q) error = %v, want ErrNotFound", key, err)
	}
}

func listKeys(t *testing.T, st blob.Store, prefix string) []string {
	t.Helper()
	var keys []string
	err := st.List(ctxT(t), prefix, func(info blob.Info) error {
		keys = append(keys, info.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys
}

func testPutGetStat(t *testing.T, st blob.Store) {
	ctx := ctxT(t)
	data := randomBytes(1, 1000)
	key := "carpark/bafy1/bafy1.car"
	before := time.Now()
	mustPut(t, st, key, data)
	mustHold(t, st, key, data)
	info, err := st.Stat(ctx, key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Key != key || info.Size != int64(len(data)) {
		t.Fatalf("Stat = %+v, want key %q size %d", info, key, len(data))
	}
	// Allow for coarse file-system and server clocks.
	if info.Modified.Before(before.Add(-time.Hour)) || info.Modified.After(time.Now().Add(time.Hour)) {
		t.Fatalf("Stat Modified = %v, not near now (%v)", info.Modified, before)
	}

	// Unknown size and no digest: stored as read.
	other := randomBytes(2, 4097)
	if err := st.Put(ctx, "x=1/y_2.z-3", bytes.NewReader(other), blob.PutOptions{Size: -1}); err != nil {
		t.Fatalf("Put with unknown size: %v", err)
	}
	mustHold(t, st, "x=1/y_2.z-3", other)

	// The empty blob.
	if err := st.Put(ctx, "empty", bytes.NewReader(nil), blob.PutOptions{SHA256: digest(nil)}); err != nil {
		t.Fatalf("Put empty: %v", err)
	}
	mustHold(t, st, "empty", []byte{})
	if info, err := st.Stat(ctx, "empty"); err != nil || info.Size != 0 {
		t.Fatalf("Stat(empty) = %+v, %v", info, err)
	}
}

func testReplace(t *testing.T, st blob.Store) {
	v1, v2 := randomBytes(3, 300), randomBytes(4, 200)
	mustPut(t, st, "k", v1)
	mustPut(t, st, "k", v2)
	mustHold(t, st, "k", v2)
}

func testNotFound(t *testing.T, st blob.Store) {
	mustBeAbsent(t, st, "no/such/blob")
	if err := st.Delete(ctxT(t), "no/such/blob"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if _, _, err := st.Get(ctxT(t), "no/such/blob", &blob.Range{Start: 0, End: 1}); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("ranged Get of a missing key: %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, st blob.Store) {
	ctx := ctxT(t)
	data := randomBytes(5, 100)
	mustPut(t, st, "d/e/f", data)
	mustPut(t, st, "d/g", data)
	if err := st.Delete(ctx, "d/e/f"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustBeAbsent(t, st, "d/e/f")
	mustHold(t, st, "d/g", data)
	if got := listKeys(t, st, ""); !slices.Equal(got, []string{"d/g"}) {
		t.Fatalf("List after Delete = %q, want [d/g]", got)
	}
	if err := st.Delete(ctx, "d/e/f"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	mustPut(t, st, "d/e/f", data)
	mustHold(t, st, "d/e/f", data)
}

func testList(t *testing.T, st blob.Store) {
	// Keys chosen so that key order differs from a naive directory walk: '-' and '.' sort
	// before '/'.
	keys := []string{"a-c", "a/b", "a/c/d", "a.b", "ab", "b", "carpark/x/x.car", "carpark/y/y.car", "a/c-d", "a/c/e"}
	sizes := map[string]int64{}
	for i, k := range keys {
		data := randomBytes(uint64(100+i), 10+i)
		sizes[k] = int64(len(data))
		mustPut(t, st, k, data)
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	filter := func(prefix string) []string {
		var out []string
		for _, k := range sorted {
			if strings.HasPrefix(k, prefix) {
				out = append(out, k)
			}
		}
		return out
	}
	for _, prefix := range []string{"", "a", "a/", "a/c", "a/c/", "a/c/d", "a.", "carpark/", "carpark/y", "b", "zz", "../", "/", "a//", "c"} {
		got := listKeys(t, st, prefix)
		if want := filter(prefix); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
	err := st.List(ctxT(t), "", func(info blob.Info) error {
		if info.Size != sizes[info.Key] {
			t.Errorf("List info for %q has size %d, want %d", info.Key, info.Size, sizes[info.Key])
		}
		if info.Modified.IsZero() {
			t.Errorf("List info for %q has no Modified time", info.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
}

func testListStop(t *testing.T, st blob.Store) {
	for i := range 5 {
		mustPut(t, st, fmt.Sprintf("s/%d", i), []byte{byte(i)})
	}
	var seen []string
	err := st.List(ctxT(t), "s/", func(info blob.Info) error {
		seen = append(seen, info.Key)
		if len(seen) == 2 {
			return blob.ErrStop
		}
		return nil
	})
	if err != nil || !slices.Equal(seen, []string{"s/0", "s/1"}) {
		t.Fatalf("List stopped after 2 = %q, %v; want [s/0 s/1], nil", seen, err)
	}
	boom := errors.New("boom")
	calls := 0
	err = st.List(ctxT(t), "s/", func(blob.Info) error { calls++; return fmt.Errorf("callback: %w", boom) })
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("List with failing callback = %v after %d calls, want boom after 1", err, calls)
	}
}

func testVerify(t *testing.T, st blob.Store) {
	data := randomBytes(6, 5000)
	earlier := randomBytes(7, 300)
	wrong := digest([]byte("something else"))
	tests := []struct {
		name string
		opts blob.PutOptions
		want error
	}{
		{"short", blob.PutOptions{Size: int64(len(data)) + 1}, blob.ErrSizeMismatch},
		{"long", blob.PutOptions{Size: int64(len(data)) - 1}, blob.ErrSizeMismatch},
		{"long by one with right digest of the prefix", blob.PutOptions{Size: int64(len(data)) - 1, SHA256: digest(data[:len(data)-1])}, blob.ErrSizeMismatch},
		{"empty expected", blob.PutOptions{Size: 0}, blob.ErrSizeMismatch},
		{"digest", blob.PutOptions{Size: -1, SHA256: wrong}, blob.ErrDigestMismatch},
		{"digest with size", blob.PutOptions{Size: int64(len(data)), SHA256: wrong}, blob.ErrDigestMismatch},
		{"size below -1", blob.PutOptions{Size: -2}, blob.ErrInvalidOptions},
		{"short digest", blob.PutOptions{Size: -1, SHA256: wrong[:31]}, blob.ErrInvalidOptions},
		{"empty digest", blob.PutOptions{Size: -1, SHA256: []byte{}}, blob.ErrInvalidOptions},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fresh := fmt.Sprintf("v/fresh%d", i)
			kept := fmt.Sprintf("v/kept%d", i)
			mustPut(t, st, kept, earlier)
			for _, key := range []string{fresh, kept} {
				err := st.Put(ctxT(t), key, bytes.NewReader(data), tc.opts)
				if !errors.Is(err, tc.want) {
					t.Fatalf("Put(%q) with %+v = %v, want %v", key, tc.opts, err, tc.want)
				}
			}
			mustBeAbsent(t, st, fresh)
			mustHold(t, st, kept, earlier)
		})
	}
}

// failingReader yields n bytes, then fails.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	n := min(len(p), r.n)
	clear(p[:n])
	r.n -= n
	return n, nil
}

func testFailingReader(t *testing.T, st blob.Store) {
	earlier := randomBytes(8, 100)
	mustPut(t, st, "f/kept", earlier)
	boom := errors.New("source broke")
	for _, key := range []string{"f/fresh", "f/kept"} {
		err := st.Put(ctxT(t), key, &failingReader{n: 3 << 20, err: boom}, blob.PutOptions{Size: -1})
		if !errors.Is(err, boom) {
			t.Fatalf("Put(%q) from a failing reader = %v, want the reader's error", key, err)
		}
	}
	mustBeAbsent(t, st, "f/fresh")
	mustHold(t, st, "f/kept", earlier)
}

func testCanceled(t *testing.T, st blob.Store) {
	ctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	data := randomBytes(9, 100)
	if err := st.Put(ctx, "c/k", bytes.NewReader(data), exact(data)); err == nil {
		t.Fatalf("Put with a canceled context succeeded")
	}
	mustBeAbsent(t, st, "c/k")
}

func testRanges(t *testing.T, st blob.Store) {
	data := randomBytes(10, 100)
	mustPut(t, st, "r", data)
	mustPut(t, st, "r0", nil)
	good := []struct {
		rng        blob.Range
		start, end int
	}{
		{blob.Range{Start: 0, End: 9}, 0, 10},
		{blob.Range{Start: 90, End: 99}, 90, 100},
		{blob.Range{Start: 10, End: -1}, 10, 100},
		{blob.Range{Start: 99, End: 99}, 99, 100},
		{blob.Range{Start: 0, End: -1}, 0, 100},
		{blob.Range{Start: 42, End: 42}, 42, 43},
	}
	for _, tc := range good {
		rng := tc.rng
		got, info := mustGet(t, st, "r", &rng)
		if !bytes.Equal(got, data[tc.start:tc.end]) {
			t.Errorf("Get range %+v = %d bytes, want bytes [%d,%d)", tc.rng, len(got), tc.start, tc.end)
		}
		if info.Size != int64(len(data)) || info.Key != "r" {
			t.Errorf("Get range %+v info = %+v, want the whole blob's (size %d)", tc.rng, info, len(data))
		}
	}
	bad := []struct {
		key string
		rng blob.Range
	}{
		{"r", blob.Range{Start: 100, End: -1}},
		{"r", blob.Range{Start: 100, End: 100}},
		{"r", blob.Range{Start: 0, End: 100}},
		{"r", blob.Range{Start: 90, End: 1000}},
		{"r", blob.Range{Start: 50, End: 40}},
		{"r", blob.Range{Start: -1, End: 5}},
		{"r", blob.Range{Start: 200, End: 300}},
		{"r0", blob.Range{Start: 0, End: -1}},
		{"r0", blob.Range{Start: 0, End: 0}},
	}
	for _, tc := range bad {
		rng := tc.rng
		rc, _, err := st.Get(ctxT(t), tc.key, &rng)
		if !errors.Is(err, blob.ErrInvalidRange) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("Get(%q) range %+v error = %v, want ErrInvalidRange", tc.key, tc.rng, err)
		}
	}
}

// InvalidKeys are keys every backend must reject; backends' own tests can use them too.
var InvalidKeys = []string{
	"", "/", "../x", "a/../b", "..", ".", "./a", "/abs", "a/", "a//b", "a/./b", "a b", `a\b`,
	"a?b", "a#b", "a%2Fb", "a:b", "a*b", "é", "a\x00b", "a\nb", "~a", strings.Repeat("k", blob.MaxKeyLength+1),
}

func testInvalidKeys(t *testing.T, st blob.Store) {
	ctx := ctxT(t)
	for _, key := range InvalidKeys {
		if err := st.Put(ctx, key, strings.NewReader("x"), blob.PutOptions{Size: 1}); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if rc, _, err := st.Get(ctx, key, nil); !errors.Is(err, blob.ErrInvalidKey) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := st.Stat(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := st.Delete(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
		if p, ok := st.(blob.Presigner); ok {
			if _, err := p.PresignPut(ctx, key, 1, digest([]byte("x")), time.Now().Add(time.Minute)); err == nil {
				t.Errorf("PresignPut(%q) succeeded", key)
			}
		}
	}
	if got := listKeys(t, st, ""); len(got) != 0 {
		t.Fatalf("after rejected Puts the store lists %q", got)
	}
	long := strings.Repeat("k", blob.MaxKeyLength)
	if !blob.ValidKey(long) {
		t.Fatalf("a key of MaxKeyLength should be valid")
	}
}

// testNestedKeys: a key that is also the directory of another key may be refused (file
// systems), but a refusal must leave the existing blob intact.
func testNestedKeys(t *testing.T, st blob.Store) {
	outer, inner := randomBytes(11, 10), randomBytes(12, 20)
	mustPut(t, st, "n", outer)
	if err := st.Put(ctxT(t), "n/m", bytes.NewReader(inner), exact(inner)); err != nil {
		t.Logf("Put under an existing blob refused: %v", err)
		mustBeAbsent(t, st, "n/m")
	} else {
		mustHold(t, st, "n/m", inner)
	}
	mustHold(t, st, "n", outer)

	mustPut(t, st, "o/p", inner)
	if err := st.Put(ctxT(t), "o", bytes.NewReader(outer), exact(outer)); err != nil {
		t.Logf("Put over an existing directory refused: %v", err)
		mustBeAbsent(t, st, "o")
	} else {
		mustHold(t, st, "o", outer)
	}
	mustHold(t, st, "o/p", inner)
}

// stream is a reproducible pseudo-random reader of n bytes that holds nothing in memory.
type stream struct {
	rng *rand.ChaCha8
	n   int64
}

func newStream(seed uint64, n int64) *stream {
	return &stream{rng: rand.NewChaCha8(seedOf(seed)), n: n}
}

func (s *stream) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.n {
		p = p[:s.n]
	}
	s.rng.Read(p)
	s.n -= int64(len(p))
	return len(p), nil
}

// liveHeap returns the live heap right after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// peakHeapDuring runs f while sampling the live heap, and returns its growth at the peak.
func peakHeapDuring(f func()) int64 {
	base := liveHeap()
	peak := base
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				peak = max(peak, liveHeap())
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	peak = max(peak, liveHeap()) // also catches a store that keeps what it was given
	return peak - base
}

func testLarge(t *testing.T, st blob.Store, opts Options) {
	ctx := ctxT(t)
	const seed = 42
	h := sha256.New()
	if _, err := io.Copy(h, newStream(seed, opts.LargeSize)); err != nil {
		t.Fatal(err)
	}
	sum := h.Sum(nil)
	var err error
	start := time.Now()
	grew := peakHeapDuring(func() {
		err = st.Put(ctx, "large/blob", newStream(seed, opts.LargeSize), blob.PutOptions{Size: opts.LargeSize, SHA256: sum})
	})
	if err != nil {
		t.Fatalf("Put of %d streamed bytes: %v", opts.LargeSize, err)
	}
	t.Logf("put %d bytes in %v; live heap grew by at most %d bytes", opts.LargeSize, time.Since(start), grew)
	if opts.MaxPutHeap > 0 && grew > opts.MaxPutHeap {
		t.Errorf("live heap grew by %d bytes during the Put, more than %d: Put does not stream", grew, opts.MaxPutHeap)
	}

	rc, info, err := st.Get(ctx, "large/blob", nil)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	h.Reset()
	n, err := io.Copy(h, rc)
	rc.Close()
	if err != nil || n != opts.LargeSize || info.Size != opts.LargeSize || !bytes.Equal(h.Sum(nil), sum) {
		t.Fatalf("Get returned %d bytes (info size %d, err %v, sha256 %x), want %d bytes with sha256 %x", n, info.Size, err, h.Sum(nil), opts.LargeSize, sum)
	}

	// A large Put that turns out one byte short stores nothing.
	err = st.Put(ctx, "large/short", newStream(seed, opts.LargeSize-1), blob.PutOptions{Size: opts.LargeSize, SHA256: sum})
	if !errors.Is(err, blob.ErrSizeMismatch) {
		t.Fatalf("short large Put = %v, want ErrSizeMismatch", err)
	}
	mustBeAbsent(t, st, "large/short")
}

func testConcurrent(t *testing.T, st blob.Store) {
	const (
		writers = 4
		rounds  = 3
		size    = 256 << 10
	)
	key := "con/current"
	valid := map[[32]byte]bool{}
	versions := make([][]byte, writers)
	for i := range versions {
		versions[i] = randomBytes(uint64(200+i), size+i)
		valid[sha256.Sum256(versions[i])] = true
	}
	mustPut(t, st, key, versions[0])

	ctx := ctxT(t)
	stop := make(chan struct{})
	errs := make(chan error, writers*rounds+16)
	var readers, wg sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rc, _, err := st.Get(ctx, key, nil)
				if err != nil {
					errs <- fmt.Errorf("st.Get during concurrent Puts: %w", err)
					return
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					errs <- fmt.Errorf("reading during concurrent Puts: %w", err)
					return
				}
				if !valid[sha256.Sum256(b)] {
					errs <- fmt.Errorf("st.Get during concurrent Puts returned %d bytes that are none of the blobs put", len(b))
					return
				}
			}
		})
	}
	for w := range writers {
		wg.Go(func() {
			for range rounds {
				if err := st.Put(ctx, key, bytes.NewReader(versions[w]), exact(versions[w])); err != nil {
					errs <- fmt.Errorf("concurrent Put: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, _ := mustGet(t, st, key, nil)
	if !valid[sha256.Sum256(got)] {
		t.Fatalf("after concurrent Puts the blob is none of the versions put")
	}
	if keys := listKeys(t, st, ""); !slices.Equal(keys, []string{key}) {
		t.Fatalf("after concurrent Puts List = %q, want only %q (no leftovers)", keys, key)
	}
}

// chunked, as the length argument of doPresigned, sends the body without a length.
const chunked = -2

// doPresigned performs req with body, overriding the length when length >= 0 or sending
// it chunked when length is chunked, and returns the status code. A server may refuse a
// request by closing the connection while the body is still being sent; that counts as a
// refusal (status 0).
func doPresigned(t *testing.T, req blob.Request, body []byte, length int64) int {
	t.Helper()
	hreq, err := req.NewHTTPRequest(ctxT(t), bytes.NewReader(body))
	if err != nil {
		t.Fatalf("building the presigned request: %v", err)
	}
	switch {
	case length >= 0:
		hreq.ContentLength = length
	case length == chunked:
		hreq.ContentLength = -1
	}
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Logf("presigned %s with %d bytes: connection failed: %v", req.Method, hreq.ContentLength, err)
		return 0
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	t.Logf("presigned %s with %d bytes: %s %q", req.Method, hreq.ContentLength, resp.Status, msg)
	return resp.StatusCode
}

func testPresign(t *testing.T, st blob.Store) {
	p, ok := st.(blob.Presigner)
	if !ok {
		t.Skip("store does not implement blob.Presigner")
	}
	ctx := ctxT(t)
	data := randomBytes(13, 10000)
	sum := digest(data)
	presign := func(key string, expires time.Time) blob.Request {
		t.Helper()
		req, err := p.PresignPut(ctx, key, int64(len(data)), sum, expires)
		if errors.Is(err, blob.ErrNoPresign) {
			t.Skipf("store is not configured to presign: %v", err)
		}
		if err != nil {
			t.Fatalf("PresignPut(%q): %v", key, err)
		}
		if req.Method != http.MethodPut || req.URL == "" {
			t.Fatalf("PresignPut(%q) = %+v, want a PUT to a URL", key, req)
		}
		return req
	}
	ok2xx := func(code int) bool { return code >= 200 && code < 300 }

	if _, err := p.PresignPut(ctx, "p/x", int64(len(data)), sum[:31], time.Now().Add(time.Minute)); err == nil {
		t.Errorf("PresignPut with a 31-byte digest succeeded")
	}
	if _, err := p.PresignPut(ctx, "p/x", -1, sum, time.Now().Add(time.Minute)); err == nil {
		t.Errorf("PresignPut with size -1 succeeded")
	}

	req := presign("p/good", time.Now().Add(10*time.Minute))
	if code := doPresigned(t, req, data, -1); !ok2xx(code) {
		t.Fatalf("presigned PUT with the right bytes: status %d, want 2xx", code)
	}
	mustHold(t, st, "p/good", data)

	short := presign("p/short", time.Now().Add(10*time.Minute))
	if code := doPresigned(t, short, data[:len(data)-1], int64(len(data)-1)); ok2xx(code) {
		t.Errorf("presigned PUT one byte short: status %d, want a rejection", code)
	}
	mustBeAbsent(t, st, "p/short")

	long := presign("p/long", time.Now().Add(10*time.Minute))
	if code := doPresigned(t, long, append(slices.Clone(data), 0), int64(len(data)+1)); ok2xx(code) {
		t.Errorf("presigned PUT one byte long: status %d, want a rejection", code)
	}
	mustBeAbsent(t, st, "p/long")

	// Without a Content-Length (chunked), the length is still enforced.
	for _, tc := range []struct {
		key  string
		body []byte
	}{
		{"p/chunked-short", data[:len(data)-1]},
		{"p/chunked-long", append(slices.Clone(data), 0)},
	} {
		req := presign(tc.key, time.Now().Add(10*time.Minute))
		if code := doPresigned(t, req, tc.body, chunked); ok2xx(code) {
			t.Errorf("presigned PUT of %d bytes (chunked) for a %d-byte blob: status %d, want a rejection", len(tc.body), len(data), code)
		}
		mustBeAbsent(t, st, tc.key)
	}

	bad := slices.Clone(data)
	bad[len(bad)/2] ^= 1
	wrong := presign("p/digest", time.Now().Add(10*time.Minute))
	if code := doPresigned(t, wrong, bad, -1); ok2xx(code) {
		t.Errorf("presigned PUT with other bytes of the same length: status %d, want a rejection", code)
	}
	mustBeAbsent(t, st, "p/digest")

	// Another key's request cannot be used for this key.
	mustPut(t, st, "p/kept", randomBytes(14, 10))
	if !strings.Contains(req.URL, "p/good") {
		t.Logf("presigned URL %q does not show its key; skipping the key-swap check", req.URL)
	} else {
		swapped := req
		swapped.URL = strings.Replace(req.URL, "p/good", "p/kept", 1)
		if code := doPresigned(t, swapped, data, -1); ok2xx(code) {
			t.Errorf("presigned PUT for p/good replayed on p/kept: status %d, want a rejection", code)
		}
		mustHold(t, st, "p/kept", randomBytes(14, 10))
	}

	// Expiry has a granularity of a second in S3 presigned URLs.
	expires := time.Now().Add(time.Second)
	late := presign("p/late", expires)
	time.Sleep(time.Until(expires.Add(1500 * time.Millisecond)))
	if code := doPresigned(t, late, data, -1); ok2xx(code) {
		t.Errorf("presigned PUT after expiry: status %d, want a rejection", code)
	}
	mustBeAbsent(t, st, "p/late")
}

func testBatch(t *testing.T, st blob.Store) {
	b, ok := st.(blob.Batcher)
	if !ok {
		t.Skip("store does not implement blob.Batcher")
	}
	ctx := ctxT(t)
	var items []blob.BatchItem
	for i := range 20 {
		data := randomBytes(uint64(100+i), 100+i*37)
		items = append(items, blob.BatchItem{
			Key:  fmt.Sprintf("batch/m%02d/m%02d", i, i),
			Data: data,
			Opts: blob.PutOptions{Size: int64(len(data)), SHA256: digest(data)},
		})
	}
	if err := b.PutBatch(ctx, items); err != nil {
		t.Fatalf("PutBatch: %v", err)
	}
	for _, it := range items {
		got, info := mustGet(t, st, it.Key, nil)
		if !bytes.Equal(got, it.Data) || info.Size != int64(len(it.Data)) {
			t.Fatalf("%s: got %d bytes (info %d), want %d", it.Key, len(got), info.Size, len(it.Data))
		}
	}
	// Writing the batch again is harmless (content-addressed writers retry whole batches).
	if err := b.PutBatch(ctx, items); err != nil {
		t.Fatalf("PutBatch again: %v", err)
	}
	// An item whose bytes do not match its digest fails the batch and is not stored.
	bad := randomBytes(7, 64)
	err := b.PutBatch(ctx, []blob.BatchItem{
		{Key: "batch/good", Data: bad, Opts: blob.PutOptions{Size: 64, SHA256: digest(bad)}},
		{Key: "batch/bad", Data: bad, Opts: blob.PutOptions{Size: 64, SHA256: digest([]byte("other"))}},
	})
	if !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("PutBatch with a wrong digest: %v, want ErrDigestMismatch", err)
	}
	if _, err := st.Stat(ctx, "batch/bad"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat of the mismatched item: %v, want ErrNotFound", err)
	}
	if err := b.PutBatch(ctx, []blob.BatchItem{{Key: "../escape", Data: bad, Opts: blob.PutOptions{Size: 64}}}); !errors.Is(err, blob.ErrInvalidKey) {
		t.Fatalf("PutBatch with an invalid key: %v, want ErrInvalidKey", err)
	}
}
