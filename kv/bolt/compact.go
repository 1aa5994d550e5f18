package bolt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// CompactTxSize is how many bytes of keys and values Compact copies in one transaction
// of the new file.
const CompactTxSize = 64 << 20

// Compact rewrites the bolt store at path into a new file holding only its live pages and
// puts it in place of the old one, returning the file's size before and after. bbolt
// reuses the pages that deletions free (the archive outbox's, once messages are moved)
// but never shrinks its file; Compact gives that space back. The store must not be open
// elsewhere, and no process may open it while Compact runs (one that opened the file
// before the rename would go on with the old one): Compact takes the file lock exclusively,
// waiting lockTimeout for it (zero: DefaultLockTimeout), then fails. The new file is fsynced and renamed over the old one, and the directory fsynced,
// so a crash leaves either file whole (a stray path+".compact" is removed by the next
// Compact).
func Compact(path string, lockTimeout time.Duration) (before, after int64, err error) {
	if lockTimeout == 0 {
		lockTimeout = DefaultLockTimeout
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("compacting bolt store: %w", err)
	}
	before = st.Size()
	src, err := bbolt.Open(path, FileMode, &bbolt.Options{Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return 0, 0, fmt.Errorf("compacting bolt store %s: file is locked by another process (stop w3dag serve first): %w", path, err)
		}
		return 0, 0, fmt.Errorf("compacting bolt store %s: %w", path, err)
	}
	defer src.Close()
	tmp := path + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, 0, fmt.Errorf("compacting bolt store %s: removing a stale %s: %w", path, tmp, err)
	}
	dst, err := bbolt.Open(tmp, FileMode, &bbolt.Options{FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return 0, 0, fmt.Errorf("compacting bolt store %s: creating %s: %w", path, tmp, err)
	}
	if err := bbolt.Compact(dst, src, CompactTxSize); err != nil {
		dst.Close()
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("compacting bolt store %s: %w", path, err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("compacting bolt store %s: syncing %s: %w", path, tmp, err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("compacting bolt store %s: closing %s: %w", path, tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("compacting bolt store %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return 0, 0, fmt.Errorf("compacting bolt store %s: syncing its directory: %w", path, err)
		}
	}
	st, err = os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("compacting bolt store %s: %w", path, err)
	}
	return before, st.Size(), nil
}
