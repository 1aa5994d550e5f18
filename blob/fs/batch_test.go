package fs_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/fs"
)

func TestPutBatch(t *testing.T) {
	ctx := context.Background()
	item := func(key, data string) blob.BatchItem {
		return blob.BatchItem{Key: key, Data: []byte(data), Opts: blob.PutOptions{Size: int64(len(data)), SHA256: sum([]byte(data))}}
	}
	badSize := item("b/short", "abc")
	badSize.Opts.Size = 4
	badDigest := item("b/digest", "abc")
	badDigest.Opts.SHA256 = sum([]byte("abd"))
	tests := []struct {
		name    string
		items   []blob.BatchItem
		wantErr error // nil: every item is stored
		stored  []string
		absent  []string
	}{
		{name: "empty", items: nil},
		{name: "all", items: []blob.BatchItem{item("a/1", "one"), item("a/2", "two"), item("c/d/3", "")}, stored: []string{"a/1", "a/2", "c/d/3"}},
		{name: "size mismatch", items: []blob.BatchItem{item("b/1", "one"), badSize, item("b/2", "two")}, wantErr: blob.ErrSizeMismatch, stored: []string{"b/1"}, absent: []string{"b/short", "b/2"}},
		{name: "digest mismatch", items: []blob.BatchItem{badDigest}, wantErr: blob.ErrDigestMismatch, absent: []string{"b/digest"}},
		{name: "bad key", items: []blob.BatchItem{item("../x", "x")}, wantErr: blob.ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			st := openStore(t, dir, fs.Options{})
			err := st.PutBatch(ctx, tt.items)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("PutBatch: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("PutBatch: %v, want %v", err, tt.wantErr)
			}
			want := map[string]string{}
			for _, it := range tt.items {
				want[it.Key] = string(it.Data)
			}
			stored := tt.stored
			if tt.wantErr == nil {
				stored = nil
				for _, it := range tt.items {
					stored = append(stored, it.Key)
				}
			}
			for _, key := range stored {
				rc, _, err := st.Get(ctx, key, nil)
				if err != nil {
					t.Fatalf("Get %s: %v", key, err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || string(got) != want[key] {
					t.Errorf("Get %s = %q, %v; want %q", key, got, err, want[key])
				}
			}
			for _, key := range tt.absent {
				if _, _, err := st.Get(ctx, key, nil); !errors.Is(err, blob.ErrNotFound) {
					t.Errorf("Get %s: %v, want ErrNotFound", key, err)
				}
			}
			// A failed item leaves no temporary file behind.
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), "~put-") {
					t.Errorf("leftover file %s", p)
				}
				return nil
			})
		})
	}
}
