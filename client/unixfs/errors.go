package unixfs

import "errors"

var (
	// ErrNoFiles is returned by Import when the paths hold no file to import.
	ErrNoFiles = errors.New("no files to import")
	// ErrBadBlock is wrapped by Extract when a block's bytes do not match its CID.
	ErrBadBlock = errors.New("block does not match its CID")
	// ErrMissingBlock is wrapped by Extract when the DAG needs a block the CAR did not hold.
	ErrMissingBlock = errors.New("block missing from the CAR")
	// ErrNotCAR is wrapped by Extract when the stream is not a CARv1.
	ErrNotCAR = errors.New("not a CAR")
	// ErrNotFound is wrapped by Extract when a path segment names no directory entry.
	ErrNotFound = errors.New("no such entry")
	// ErrTooLarge is wrapped by Extract when the CAR stream or the files it would write
	// pass ExtractOptions.MaxBytes.
	ErrTooLarge = errors.New("larger than the limit")
	// ErrTooManyEntries is wrapped by Extract when the files and directories it would
	// create pass ExtractOptions.MaxEntries.
	ErrTooManyEntries = errors.New("too many files and directories")
	// ErrMalformed is wrapped by Extract when the DAG is one it will not write: more
	// than MaxBarrenNodes nodes in a row that hold no bytes and name no entry.
	ErrMalformed = errors.New("malformed DAG")
	// ErrExists is returned by Extract when the output path exists already.
	ErrExists = errors.New("output path exists")
	// ErrConflict is returned by Import when a name is both a file and a directory.
	ErrConflict = errors.New("a name is both a file and a directory")
	// ErrSharderClosed is returned by a Sharder's Add or Close after Close or Abort.
	ErrSharderClosed = errors.New("sharder closed")
	// ErrFileChanged is returned by a view shard's reader (Shard.NewReader) when a file
	// is shorter than when it was imported.
	ErrFileChanged = errors.New("file changed since it was imported")
)
