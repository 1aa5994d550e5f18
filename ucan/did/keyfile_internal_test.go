package did

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WriteKeyFile fsyncs the key file before it appears under its name and then its
// directory, and leaves no temporary file behind.
func TestWriteKeyFileSyncs(t *testing.T) {
	var synced []string
	oldFile := syncFile
	syncFile = func(f *os.File) error {
		synced = append(synced, f.Name())
		return oldFile(f)
	}
	t.Cleanup(func() { syncFile = oldFile })
	dir := t.TempDir()
	path := filepath.Join(dir, "service.key")
	s, err := GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(path, s); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 2 || !strings.HasPrefix(filepath.Base(synced[0]), ".service.key.tmp-") || synced[1] != dir {
		t.Fatalf("synced %q, want the temporary key file and then %s", synced, dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 || entries[0].Name() != "service.key" {
		t.Fatalf("directory holds %v (%v), want only service.key", entries, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	if err := WriteKeyFile(path, s); !errors.Is(err, ErrKeyFileExists) {
		t.Fatalf("second write: %v, want ErrKeyFileExists", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("a refused write left %v", entries)
	}
}

// An empty or truncated key file (a crash before the key was durable) is an error naming
// the file and saying what is wrong with it, not "bad multicodec varint".
func TestReadKeyFileTruncated(t *testing.T) {
	dir := t.TempDir()
	s, err := GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := EncodePrivateKey(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty", "", "is empty"},
		{"blank", " \n", "is empty"},
		{"truncated", enc[:len(enc)/2], "truncated"},
		{"one byte", enc[:1], "truncated"},
	} {
		path := filepath.Join(dir, tc.name+".key")
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ReadKeyFile(path)
		if !errors.Is(err, ErrInvalidPrivateKey) && !errors.Is(err, ErrUnsupportedKey) {
			t.Errorf("%s: %v, want ErrInvalidPrivateKey", tc.name, err)
			continue
		}
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %q does not name %s and say %q", tc.name, err, path, tc.want)
		}
	}
}
