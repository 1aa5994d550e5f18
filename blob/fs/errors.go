package fs

import "errors"

// ErrKeyConflict is returned by Put when the key, or one of its directories, is already in
// use the other way: a blob where a directory is needed, or a directory of other blobs
// where the blob would go.
var ErrKeyConflict = errors.New("fs: key conflicts with an existing blob or directory")
