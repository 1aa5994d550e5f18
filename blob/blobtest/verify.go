package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/w3dag/w3dag/blob"
)

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
