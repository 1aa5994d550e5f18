package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
)

// maxEmptyReads is how many consecutive (0, nil) reads Verify tolerates from the source
// when checking that it ends, before failing with io.ErrNoProgress.
const maxEmptyReads = 100

// Validate reports whether o can be met: Size at least -1 and SHA256 nil or 32 bytes.
// The error wraps ErrInvalidOptions.
func (o PutOptions) Validate() error {
	if o.Size < -1 {
		return fmt.Errorf("%w: Size %d (want -1 for unknown, or >= 0)", ErrInvalidOptions, o.Size)
	}
	if o.SHA256 != nil && len(o.SHA256) != sha256.Size {
		return fmt.Errorf("%w: SHA256 is %d bytes, want %d", ErrInvalidOptions, len(o.SHA256), sha256.Size)
	}
	return nil
}

// Verify returns a reader that yields the bytes of r while checking them against opts, for
// backends to stream a Put through. It fails with an error wrapping ErrSizeMismatch as soon
// as r has more than opts.Size bytes, and in place of the final io.EOF it returns an error
// wrapping ErrSizeMismatch or ErrDigestMismatch when the bytes do not match opts. When
// opts.Size bytes have been read it checks at once that r ends there and that the digest
// matches, so a consumer that stops after exactly opts.Size bytes still sees the error
// (along with the last bytes). Once ctx is done, reads fail with ctx.Err(). With
// opts.SHA256 nil it does not hash at all: a backend hashing in a goroutine of its own
// verifies the size with Verify and the digest with a DigestCheck.
//
// A backend that copies the reader to a temporary place and publishes it only after a
// read returned io.EOF stores nothing that does not match.
func Verify(ctx context.Context, r io.Reader, opts PutOptions) (io.Reader, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	v := &verifier{ctx: ctx, r: r, want: opts}
	if opts.SHA256 != nil {
		v.d = &DigestCheck{h: sha256.New(), want: opts.SHA256}
	}
	return v, nil
}

type verifier struct {
	ctx  context.Context
	r    io.Reader
	want PutOptions
	d    *DigestCheck // nil: no digest to check
	n    int64
	err  error // sticky: io.EOF once verified, or the failure
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if err := v.ctx.Err(); err != nil {
		v.err = err
		return 0, err
	}
	if v.want.Size >= 0 && int64(len(p)) > v.want.Size-v.n {
		p = p[:v.want.Size-v.n] // never read past the expected end into p
	}
	var n int
	var err error
	if len(p) > 0 {
		n, err = v.r.Read(p)
		if v.d != nil {
			v.d.Write(p[:n])
		}
		v.n += int64(n)
	}
	if err == nil && v.want.Size >= 0 && v.n == v.want.Size {
		err = v.checkEnd()
	}
	if err == io.EOF {
		err = v.finish()
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

// checkEnd reads one more byte from the source: io.EOF if it has ended.
func (v *verifier) checkEnd() error {
	var b [1]byte
	for range maxEmptyReads {
		n, err := v.r.Read(b[:])
		if n > 0 {
			return fmt.Errorf("%w: more than the expected %d bytes", ErrSizeMismatch, v.want.Size)
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// finish checks size and digest at the end of the source; io.EOF when both match.
func (v *verifier) finish() error {
	if v.want.Size >= 0 && v.n != v.want.Size {
		return fmt.Errorf("%w: got %d bytes, want %d", ErrSizeMismatch, v.n, v.want.Size)
	}
	if v.d != nil {
		if err := v.d.Check(); err != nil {
			return err
		}
	}
	return io.EOF
}

// DigestCheck hashes the bytes written to it and checks them against an expected SHA-256
// digest: the digest half of Verify, for a backend that hashes in a goroutine of its own
// while Verify (without PutOptions.SHA256) checks the size as the bytes are read.
type DigestCheck struct {
	h    hash.Hash
	want []byte
}

// NewDigestCheck returns a DigestCheck expecting want, which must be 32 bytes long
// (otherwise the error wraps ErrInvalidOptions).
func NewDigestCheck(want []byte) (*DigestCheck, error) {
	if len(want) != sha256.Size {
		return nil, fmt.Errorf("%w: SHA256 is %d bytes, want %d", ErrInvalidOptions, len(want), sha256.Size)
	}
	return &DigestCheck{h: sha256.New(), want: bytes.Clone(want)}, nil
}

// Write hashes p; it never fails.
func (d *DigestCheck) Write(p []byte) (int, error) { return d.h.Write(p) }

// Check returns nil when the bytes written so far hash to the expected digest, and an
// error wrapping ErrDigestMismatch otherwise.
func (d *DigestCheck) Check() error {
	if sum := d.h.Sum(nil); !bytes.Equal(sum, d.want) {
		return fmt.Errorf("%w: got %x, want %x", ErrDigestMismatch, sum, d.want)
	}
	return nil
}

// Bounds returns the offset and length of the range r within a blob of size bytes; a nil
// r is the whole blob. The range must lie entirely inside the blob: 0 <= Start <= End <
// size, or End < 0 and Start < size. Otherwise the error wraps ErrInvalidRange (an empty
// blob therefore has no valid range, only the nil one).
func (r *Range) Bounds(size int64) (off, n int64, err error) {
	if r == nil {
		return 0, size, nil
	}
	end := r.End
	if end < 0 {
		end = size - 1
	}
	if r.Start < 0 || r.Start >= size || end < r.Start || end >= size {
		return 0, 0, fmt.Errorf("%w: bytes %d-%d of a %d-byte blob", ErrInvalidRange, r.Start, r.End, size)
	}
	return r.Start, end - r.Start + 1, nil
}
