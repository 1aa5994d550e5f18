package mem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/w3dag/w3dag/blob"
)

// Store is an in-memory blob.Store, safe for concurrent use. The zero value is not
// usable; call New.
type Store struct {
	mu    sync.RWMutex
	blobs map[string]stored
}

// stored is one blob; data is never modified after it is stored, so readers share it.
type stored struct {
	data []byte
	mod  time.Time
}

var _ blob.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{blobs: make(map[string]stored)}
}

func checkKey(op, key string) error {
	if !blob.ValidKey(key) {
		return fmt.Errorf("mem: %s %q: %w", op, key, blob.ErrInvalidKey)
	}
	return nil
}

// Put reads all of r into memory, verifies it against opts and only then stores it.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts blob.PutOptions) error {
	if err := checkKey("put", key); err != nil {
		return err
	}
	vr, err := blob.Verify(ctx, r, opts)
	if err != nil {
		return fmt.Errorf("mem: put %q: %w", key, err)
	}
	var buf bytes.Buffer
	if opts.Size > 0 {
		buf.Grow(int(opts.Size))
	}
	if _, err := buf.ReadFrom(vr); err != nil {
		return fmt.Errorf("mem: put %q: %w", key, err)
	}
	s.mu.Lock()
	s.blobs[key] = stored{data: buf.Bytes(), mod: time.Now()}
	s.mu.Unlock()
	return nil
}

func (s *Store) lookup(op, key string) (stored, error) {
	if err := checkKey(op, key); err != nil {
		return stored{}, err
	}
	s.mu.RLock()
	b, ok := s.blobs[key]
	s.mu.RUnlock()
	if !ok {
		return stored{}, fmt.Errorf("mem: %s %q: %w", op, key, blob.ErrNotFound)
	}
	return b, nil
}

// Get returns a reader over the stored bytes (or the range rng of them).
func (s *Store) Get(ctx context.Context, key string, rng *blob.Range) (io.ReadCloser, blob.Info, error) {
	b, err := s.lookup("get", key)
	if err != nil {
		return nil, blob.Info{}, err
	}
	off, n, err := rng.Bounds(int64(len(b.data)))
	if err != nil {
		return nil, blob.Info{}, fmt.Errorf("mem: get %q: %w", key, err)
	}
	info := blob.Info{Key: key, Size: int64(len(b.data)), Modified: b.mod}
	return io.NopCloser(bytes.NewReader(b.data[off : off+n])), info, nil
}

// Stat describes the blob at key.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	b, err := s.lookup("stat", key)
	if err != nil {
		return blob.Info{}, err
	}
	return blob.Info{Key: key, Size: int64(len(b.data)), Modified: b.mod}, nil
}

// Delete removes the blob at key, if any.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey("delete", key); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.blobs, key)
	s.mu.Unlock()
	return nil
}

// List calls fn for the blobs under prefix as they were when List started; fn may call
// the Store.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	s.mu.RLock()
	infos := make([]blob.Info, 0, len(s.blobs))
	for k, b := range s.blobs {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, blob.Info{Key: k, Size: int64(len(b.data)), Modified: b.mod})
		}
	}
	s.mu.RUnlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(info); err != nil {
			if errors.Is(err, blob.ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}
