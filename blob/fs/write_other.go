//go:build !linux

package fs

import "os"

// openDirect is the open flag for direct I/O: none, this system writes through its cache.
const openDirect = 0

// setDirect does nothing: files are never open for direct I/O here.
func setDirect(f *os.File, on bool) error { return nil }

// startWriteback does nothing: the final fsync writes everything back.
func startWriteback(f *os.File, off, n int64) {}

// haveSyncfs says that this system has no syncfs: PutBatch writes each item with Put.
const haveSyncfs = false

// syncfsFile is never called where haveSyncfs is false.
func syncfsFile(f *os.File) error { return f.Sync() }
