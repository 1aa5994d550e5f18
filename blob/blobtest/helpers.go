package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/w3dag/w3dag/blob"
)

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
	if err := getErr(ctxT(t), st, key, nil); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Get(%q) error = %v, want ErrNotFound", key, err)
	}
}

// getErr returns the error of Get(key, rng), closing the body if Get succeeded.
func getErr(ctx context.Context, st blob.Store, key string, rng *blob.Range) error {
	rc, _, err := st.Get(ctx, key, rng)
	if err == nil {
		rc.Close()
	}
	return err
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
