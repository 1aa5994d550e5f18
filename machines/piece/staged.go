package piece

import (
	"crypto/md5"
	"fmt"
	"hash"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/internal/capped"
	commp "github.com/w3dag/w3dag/piece"
)

// MaxStaged is how many pieces computed while their CAR arrived (Staged) are kept in
// memory for the store entry's done transition; past it the oldest is dropped, and its
// compute task reads the CAR back instead. Each holds a CID and an md5 digest, about
// 100 bytes.
const MaxStaged = 1024

// Known is the piece of a CAR computed before its compute task was scheduled (in the
// pass that stored the bytes): Queue puts it in the task's args, and the task records
// it without reading the CAR again.
type Known struct {
	// Piece is the v2 piece CID of the CAR's bytes.
	Piece cid.Cid
	// MD5 is the CAR's md5 digest (MD5Size bytes), or nil when it was not hashed (the
	// broker offer computes it from the CAR then).
	MD5 []byte
}

// Staged keeps the pieces computed while CARs were uploaded (Tee) until a store entry
// of the CAR becomes done and queues its piece (the store machine reads Lookup in that
// transaction). A piece stays staged after it is read, so a retried transaction finds
// it again; the oldest is dropped past MaxStaged. A nil *Staged holds nothing. The zero
// value is not usable; use NewStaged.
type Staged struct {
	md5    bool
	pieces *capped.Map[cid.Cid, Known]
}

// NewStaged returns an empty Staged whose Tees hash the CAR's md5 beside its commP when
// withMD5 is true (a service that makes broker offers, which carry it), and only commP
// when it is false.
func NewStaged(withMD5 bool) *Staged {
	return &Staged{md5: withMD5, pieces: capped.New[cid.Cid, Known](MaxStaged)}
}

// Stage keeps k as the piece of the CAR content, whose bytes were verified against
// content (size and sha2-256) in the pass that computed k.
func (s *Staged) Stage(content cid.Cid, k Known) { s.pieces.Put(content, k) }

// Drop forgets the staged piece of the CAR content, if any: a replay of the archive,
// which stages the piece each delivery's compute task carried, drops it once the
// delivery ran, so that a later done of the same CAR (whose original found nothing
// staged) does not take it.
func (s *Staged) Drop(content cid.Cid) {
	if s != nil {
		s.pieces.Take(content)
	}
}

// Lookup returns the staged piece of the CAR content, if any.
func (s *Staged) Lookup(content cid.Cid) (Known, bool) {
	if s == nil {
		return Known{}, false
	}
	return s.pieces.Get(content)
}

// Tee computes the piece (and the md5, if its Staged hashes it) of the bytes written
// to it, for an upload endpoint to tee the bytes it stores into. commP is hashed on
// ComputeWorkers goroutines beside the writer, which only copies the bytes (Write never
// fails before Finish or Close): the upload's own sha2-256 and CAR scan keep the other
// cores, and memory is 2·ComputeWorkers+1 segment buffers of about 1 MiB (3 MiB on 2
// cores) per upload. Finish or Close it.
func (s *Staged) Tee() *Tee {
	t := &Tee{w: commp.NewWriterAsync(ComputeWorkers())}
	if s.md5 {
		t.m = md5.New()
	}
	return t
}

// Tee is a piece computation fed by Write; see Staged.Tee.
type Tee struct {
	w *commp.Writer
	m hash.Hash // nil: no md5
}

// Write hashes p.
func (t *Tee) Write(p []byte) (int, error) {
	if t.m != nil {
		t.m.Write(p)
	}
	return t.w.Write(p)
}

// Finish returns the piece of the bytes written, which must be size bytes (otherwise
// an error wrapping ErrMismatch), and stops the hashing.
func (t *Tee) Finish(size int64) (Known, error) {
	pc, err := t.w.Sum()
	if err != nil {
		return Known{}, fmt.Errorf("computing the piece: %w", err)
	}
	if pc.Size != uint64(size) {
		return Known{}, fmt.Errorf("%w: computed the piece of %d bytes, the CAR has %d", ErrMismatch, pc.Size, size)
	}
	k := Known{Piece: pc.CID()}
	if t.m != nil {
		k.MD5 = t.m.Sum(nil)
	}
	return k, nil
}

// Close stops the hashing without a result (the bytes were not stored); after Finish
// it does nothing.
func (t *Tee) Close() error { return t.w.Close() }

// knownOf checks a piece given in a compute task's args against the CAR's size: it
// must be a v2 piece CID of size bytes, with an md5 of MD5Size bytes or none.
func knownOf(k Known, size int64) error {
	pc, err := commp.FromCID(k.Piece)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidPiece, err)
	}
	if pc.Size != uint64(size) {
		return fmt.Errorf("%w: the piece %s is of %d bytes, the CAR has %d", ErrInvalidPiece, k.Piece, pc.Size, size)
	}
	if k.MD5 != nil && len(k.MD5) != MD5Size {
		return fmt.Errorf("md5 is %d bytes, want %d", len(k.MD5), MD5Size)
	}
	return nil
}
