package blockindex

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/multiformats/go-varint"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/dag"
)

// Viewer runs read-only transactions; *dag.Engine implements it.
type Viewer interface {
	View(ctx context.Context, fn func(t *dag.Tx) error) error
}

// Updater runs writing transactions; *dag.Engine implements it.
type Updater interface {
	Viewer
	Update(ctx context.Context, fn func(t *dag.Tx) error) error
}

// Locate returns where the block with multihash mh lives: every stored CAR holding it
// (ErrNotIndexed when none does).
func Locate(ctx context.Context, v Viewer, mh multihash.Multihash) ([]Location, error) {
	var out []Location
	p := append(bytes.Clone(mhPrefix), mh...)
	err := v.View(ctx, func(tx *dag.Tx) error {
		kt, err := tx.KV(Prefix)
		if err != nil {
			return err
		}
		return kt.Scan(prefixScan(p), func(k, val []byte) error {
			n, c, err := cid.CidFromBytes(k[len(p):])
			if err != nil || n != len(k)-len(p) {
				return nil // another multihash that has mh as a prefix
			}
			loc, err := decodeLoc(c, val)
			if err != nil {
				return err
			}
			out = append(out, loc)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("locating %s: %w", mh.B58String(), err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: block %s", ErrNotIndexed, mh.B58String())
	}
	return out, nil
}

func decodeLoc(car cid.Cid, v []byte) (Location, error) {
	off, n, err := varint.FromUvarint(v)
	if err != nil {
		return Location{}, fmt.Errorf("%w: location of a block of %s", ErrCorrupt, car)
	}
	l, m, err := varint.FromUvarint(v[n:])
	if err != nil || n+m != len(v) {
		return Location{}, fmt.Errorf("%w: location of a block of %s", ErrCorrupt, car)
	}
	return Location{CAR: car, Offset: int64(off), Length: int64(l)}, nil
}

// Blocks returns the blocks of car in CAR order (ErrNotIndexed when it has none). A block
// the CAR holds more than once is listed at each of its places, each time with the
// location of its first copy.
func Blocks(ctx context.Context, v Viewer, car cid.Cid) ([]carscan.Block, error) {
	var out []carscan.Block
	err := v.View(ctx, func(tx *dag.Tx) error {
		kt, err := tx.KV(Prefix)
		if err != nil {
			return err
		}
		var mhs [][]byte
		err = kt.Scan(prefixScan(append(bytes.Clone(carPrefix), car.Bytes()...)), func(_, val []byte) error {
			mhs = append(mhs, bytes.Clone(val))
			return nil
		})
		if err != nil {
			return err
		}
		for _, mh := range mhs {
			val, err := kt.Get(append(append(bytes.Clone(mhPrefix), mh...), car.Bytes()...))
			if err != nil {
				return fmt.Errorf("%w: block %x of %s: %w", ErrCorrupt, mh, car, err)
			}
			loc, err := decodeLoc(car, val)
			if err != nil {
				return err
			}
			out = append(out, carscan.Block{Multihash: mh, Offset: loc.Offset, Length: loc.Length})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the blocks of %s: %w", car, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: CAR %s", ErrNotIndexed, car)
	}
	return out, nil
}

// Build indexes car from its bytes in blob storage at key when it has a done store
// entry and no index yet: for CARs that became done with nothing staged. The bytes must
// scan as a CAR (the error wraps a carscan error otherwise).
func Build(ctx context.Context, u Updater, store blob.Store, key string, car cid.Cid) error {
	var refs int64
	var indexed bool
	err := u.View(ctx, func(tx *dag.Tx) error {
		kt, err := tx.KV(Prefix)
		if err != nil {
			return err
		}
		if refs, err = kt.Counter(refsKey(car)); err != nil {
			return err
		}
		indexed, err = hasBlocks(kt, car)
		return err
	})
	if err != nil || refs <= 0 || indexed {
		return err
	}
	rc, _, err := store.Get(ctx, key, nil)
	if err != nil {
		return fmt.Errorf("reading %s: %w", car, err)
	}
	res, err := carscan.Scan(rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("indexing %s: %w", car, err)
	}
	repeat := repeats(res.Blocks)
	for i := 0; i < len(res.Blocks); i += writeBatch {
		end := min(i+writeBatch, len(res.Blocks))
		batch, batchRepeat := res.Blocks[i:end], repeat[i:end]
		first := i
		err := u.Update(ctx, func(tx *dag.Tx) error {
			kt, err := tx.KV(Prefix)
			if err != nil {
				return err
			}
			return write(kt, car, first, batch, batchRepeat)
		})
		if err != nil {
			return fmt.Errorf("indexing %s: %w", car, err)
		}
	}
	return nil
}

// ReadBlock reads the block at loc from the CAR's bytes in store (key names the blob)
// and checks it against c.
func ReadBlock(ctx context.Context, store blob.Store, key string, loc Location, c cid.Cid) ([]byte, error) {
	return ReadBlockInto(ctx, store, key, loc, c, make([]byte, loc.Length))
}

// ReadBlockInto is ReadBlock reading into buf, which must hold at least loc.Length bytes:
// it returns buf[:loc.Length] (or an empty block), checked against c. A caller that
// reuses buf for other blocks must not have handed the returned bytes on.
func ReadBlockInto(ctx context.Context, store blob.Store, key string, loc Location, c cid.Cid, buf []byte) ([]byte, error) {
	if int64(len(buf)) < loc.Length {
		return nil, fmt.Errorf("reading %s from %s: a %d-byte buffer for a %d-byte block", c, loc.CAR, len(buf), loc.Length)
	}
	if loc.Length == 0 {
		// An empty block (an empty file's raw leaf): nothing to read, and no byte range
		// names zero bytes.
		if sum, err := c.Prefix().Sum(nil); err != nil || !sum.Equals(c) {
			return nil, fmt.Errorf("%w: %s at %d+0 of %s does not match", ErrCorrupt, c, loc.Offset, loc.CAR)
		}
		return []byte{}, nil
	}
	rc, _, err := store.Get(ctx, key, &blob.Range{Start: loc.Offset, End: loc.Offset + loc.Length - 1})
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", c, loc.CAR, err)
	}
	defer rc.Close()
	data := buf[:loc.Length:loc.Length]
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", c, loc.CAR, err)
	}
	sum, err := c.Prefix().Sum(data)
	if err != nil || !sum.Equals(c) {
		return nil, fmt.Errorf("%w: %s at %d+%d of %s does not match", ErrCorrupt, c, loc.Offset, loc.Length, loc.CAR)
	}
	return data, nil
}
