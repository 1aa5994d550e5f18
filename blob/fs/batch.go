package fs

import (
	"bytes"
	"context"
	"fmt"

	"github.com/w3dag/w3dag/blob"
)

var _ blob.Batcher = (*Store)(nil)

// PutBatch writes every item like Put, but leaves out the fsyncs of each file and directory
// and makes the whole batch durable with one syncfs of the file system at the end: for many
// small blobs (archived agent messages) that is one disk flush instead of two or three per
// blob. Each item is still written to a temporary file, verified and renamed into place, so
// readers see it whole or not at all. Where syncfs is not available every item is written
// with Put. Linux reports write-back errors through syncfs only since 5.8: on older
// kernels a nil return does not prove that the flush succeeded, as Put's fsyncs do.
func (s *Store) PutBatch(ctx context.Context, items []blob.BatchItem) error {
	if len(items) == 0 {
		return nil
	}
	for _, it := range items {
		data := it.Data
		if data == nil {
			data = []byte{} // an empty blob: written from its (no) bytes too
		}
		if err := s.put(ctx, it.Key, bytes.NewReader(it.Data), data, it.Opts, !haveSyncfs); err != nil {
			return err
		}
	}
	if !haveSyncfs {
		return nil
	}
	if err := s.syncfs(); err != nil {
		return fmt.Errorf("fs: put batch of %d: %w", len(items), err)
	}
	return nil
}

// syncfs flushes the file system the store's root is on: every file, directory entry and
// rename written so far.
func (s *Store) syncfs() error {
	d, err := s.root.Open(".")
	if err != nil {
		return fmt.Errorf("syncing file system: %w", err)
	}
	err = syncfsFile(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("syncing file system: %w", err)
	}
	return nil
}
