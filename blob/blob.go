package blob

import (
	"context"
	"io"
	"strings"
	"time"
)

// Store holds immutable byte blobs under keys.
//
// Every method taking a key returns an error wrapping ErrInvalidKey for a key ValidKey
// rejects. A key should not also be a directory of other keys ("a" and "a/b"): object
// stores allow it, but file-system backends refuse the second Put with an error.
type Store interface {
	// Put stores the bytes read from r at key, atomically: readers see either no blob or
	// the whole blob. When opts.Size >= 0 the bytes must be exactly that long, and when
	// opts.SHA256 is set their SHA-256 must equal it; otherwise Put stores nothing and
	// returns ErrSizeMismatch or ErrDigestMismatch. Putting a key that exists replaces it.
	// When Put returns nil it has finished with r, so the caller may reuse what r reads
	// (after an error it may not have: an HTTP transport can still be sending the body).
	Put(ctx context.Context, key string, r io.Reader, opts PutOptions) error

	// Get opens the blob at key, or the byte range rng of it when rng is not nil; Info
	// describes the whole blob, not the range. ErrNotFound if there is no blob;
	// ErrInvalidRange if the range is not entirely inside it (see Range.Bounds).
	Get(ctx context.Context, key string, rng *Range) (io.ReadCloser, Info, error)

	// Stat describes the blob at key, or returns ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)

	// Delete removes the blob at key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error

	// List calls fn for each blob whose key starts with prefix, in key order (byte-wise
	// lexicographic). fn returning ErrStop ends the listing and List returns nil; any other
	// error from fn ends it and is returned. The prefix need not be a valid key
	// ("carpark/" lists every key under carpark).
	List(ctx context.Context, prefix string, fn func(Info) error) error
}

// Presigner is implemented by stores that can let a client write a blob directly, without
// the bytes passing through w3dag's process (S3 presigned PUTs; the fs backend's
// HMAC-signed PUT /blob URLs served by w3dag itself).
type Presigner interface {
	// PresignPut returns a request that writes exactly size bytes with the given SHA-256 at
	// key until expires. Servers must reject other lengths or digests. A store that can
	// presign in principle but was not configured to returns an error wrapping
	// ErrNoPresign.
	PresignPut(ctx context.Context, key string, size int64, sha256 []byte, expires time.Time) (Request, error)
}

// Batcher is implemented by stores that make a batch of writes durable together, more
// cheaply than one Put each (blob/fs: one syncfs for the batch instead of fsyncs of every
// file and directory). Writers of many small blobs, such as the archive's mover, use it
// when the store has it.
type Batcher interface {
	// PutBatch stores every item as Put would, each checked against its options. When it
	// returns nil every item is durable. On error some items may be stored and others not,
	// but each is either whole or absent, so the batch can simply be written again.
	// PutBatch does not keep any item's Data once it returns: the caller may reuse or
	// overwrite those bytes (the log exporter reuses its file bodies).
	PutBatch(ctx context.Context, items []BatchItem) error
}

// BatchItem is one blob of a PutBatch.
type BatchItem struct {
	Key  string
	Data []byte
	Opts PutOptions
}

// PutOptions constrain a Put. The zero value checks nothing: Size must be set to -1
// explicitly to mean "unknown"; a zero Size means an empty blob.
type PutOptions struct {
	// Size is the exact number of bytes expected, or -1 if unknown.
	Size int64
	// SHA256, when not nil, is the expected SHA-256 digest of the bytes.
	SHA256 []byte
}

// Range is an inclusive byte range [Start, End] within a blob, as in HTTP Range headers.
// End < 0 means "to the end of the blob". Unlike HTTP, an End past the end of the blob is
// not shortened: the range must lie entirely inside the blob (see Bounds).
type Range struct {
	Start int64
	End   int64
}

// Info describes a stored blob.
type Info struct {
	Key      string
	Size     int64
	Modified time.Time
}

// Request is a presigned HTTP request a client performs to upload a blob: Method on URL
// with exactly the given Headers (which include Content-Length) and the blob as body,
// before Expires. NewHTTPRequest builds it for net/http.
type Request struct {
	Method  string
	URL     string
	Headers map[string]string
	Expires time.Time
}

// MaxKeyLength is the longest key any backend accepts.
const MaxKeyLength = 1024

// ValidKey reports whether key is acceptable to every backend: non-empty, at most
// MaxKeyLength bytes, slash-separated segments that are each non-empty, not "." or "..",
// and made only of ASCII letters, digits and "-", "_", ".", "=".
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLength {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			case c == '-', c == '_', c == '.', c == '=':
			default:
				return false
			}
		}
	}
	return true
}
