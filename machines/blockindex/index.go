package blockindex

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-varint"

	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/internal/capped"
	"github.com/w3dag/w3dag/kv"
)

const (
	// Prefix is the prefix of every key of the index.
	Prefix = "blockindex/"
	// MaxStaged is how many scanned CARs wait in memory for their store entry to become
	// done; past it the oldest is dropped (its CAR is then indexed by Build).
	MaxStaged = 64
	// writeBatch is how many blocks Build writes per transaction.
	writeBatch = 4096
)

var (
	mhPrefix   = []byte(Prefix + "mh/")
	carPrefix  = []byte(Prefix + "car/")
	refsPrefix = []byte(Prefix + "refs/")
)

// Location is where a block lives: the bytes [Offset, Offset+Length) of the CAR.
type Location struct {
	CAR    cid.Cid
	Offset int64
	Length int64
}

// Index stages scans until the store entry of their CAR becomes done. The zero value is
// not usable; use New.
type Index struct {
	staged *capped.Map[cid.Cid, *carscan.Result]
}

// New returns an empty Index.
func New() *Index { return &Index{staged: capped.New[cid.Cid, *carscan.Result](MaxStaged)} }

// Stage keeps the scan of car until a store entry of car becomes done (Done).
func (x *Index) Stage(car cid.Cid, res *carscan.Result) { x.staged.Put(car, res) }

// Done counts a done store entry of car in tx and, for the first one, writes the staged
// scan of car. It reports whether car is indexed afterwards (false: nothing was staged
// and nothing is stored; Build indexes it).
func (x *Index) Done(tx *dag.Tx, car cid.Cid) (bool, error) {
	kt, err := tx.KV(Prefix)
	if err != nil {
		return false, err
	}
	if err := kt.Add(refsKey(car), 1); err != nil {
		return false, fmt.Errorf("counting a reference to %s: %w", car, err)
	}
	indexed, err := hasBlocks(kt, car)
	if err != nil || indexed {
		return indexed, err
	}
	res, _ := x.staged.Take(car)
	if res == nil {
		return false, nil
	}
	if len(res.Blocks) == 0 {
		return true, nil
	}
	return true, write(kt, car, 0, res.Blocks, repeats(res.Blocks))
}

// Removed drops a reference to car (a done store entry of it was removed) and deletes
// its records when it was the last.
func Removed(tx *dag.Tx, car cid.Cid) error {
	kt, err := tx.KV(Prefix)
	if err != nil {
		return err
	}
	if err := kt.Add(refsKey(car), -1); err != nil {
		return fmt.Errorf("dropping a reference to %s: %w", car, err)
	}
	n, err := kt.Counter(refsKey(car))
	if err != nil || n > 0 {
		return err
	}
	if n < 0 {
		if err := kt.Add(refsKey(car), -n); err != nil {
			return err
		}
	}
	start := append(bytes.Clone(carPrefix), car.Bytes()...)
	var keys [][]byte
	err = kt.Scan(prefixScan(start), func(k, v []byte) error {
		keys = append(keys, bytes.Clone(k), append(append(bytes.Clone(mhPrefix), v...), car.Bytes()...))
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing the blocks of %s: %w", car, err)
	}
	for _, k := range keys {
		if err := kt.Delete(k); err != nil {
			return fmt.Errorf("deleting the index of %s: %w", car, err)
		}
	}
	return nil
}

// write records blocks as the blocks first, first+1, … of car; repeat[i] says that
// blocks[i] is a repeat of an earlier block of car (repeats), whose location, its first
// copy's, is not written again.
func write(kt kv.Tx, car cid.Cid, first int, blocks []carscan.Block, repeat []bool) error {
	cb := car.Bytes()
	for i, b := range blocks {
		if !repeat[i] {
			loc := varint.ToUvarint(uint64(b.Offset))
			loc = append(loc, varint.ToUvarint(uint64(b.Length))...)
			mk := append(append(bytes.Clone(mhPrefix), b.Multihash...), cb...)
			if err := kt.Put(mk, loc); err != nil {
				return fmt.Errorf("indexing a block of %s: %w", car, err)
			}
		}
		ck := binary.BigEndian.AppendUint32(append(bytes.Clone(carPrefix), cb...), uint32(first+i))
		if err := kt.Put(ck, b.Multihash); err != nil {
			return fmt.Errorf("indexing a block of %s: %w", car, err)
		}
	}
	return nil
}

// repeats marks each block of a CAR's scan that repeats an earlier one: a block the CAR
// holds more than once is located at its first copy. Marked from the scan, not by reading
// the index back, it costs no store read per block.
func repeats(blocks []carscan.Block) []bool {
	seen := make(map[string]struct{}, len(blocks))
	out := make([]bool, len(blocks))
	for i, b := range blocks {
		_, out[i] = seen[string(b.Multihash)]
		seen[string(b.Multihash)] = struct{}{}
	}
	return out
}

func refsKey(car cid.Cid) []byte { return append(bytes.Clone(refsPrefix), car.Bytes()...) }

func hasBlocks(kt kv.Tx, car cid.Cid) (bool, error) {
	found := false
	opts := prefixScan(append(bytes.Clone(carPrefix), car.Bytes()...))
	opts.Limit = 1
	err := kt.Scan(opts, func(k, v []byte) error {
		found = true
		return nil
	})
	return found, err
}

// prefixScan scans every key starting with p.
func prefixScan(p []byte) kv.ScanOptions {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return kv.ScanOptions{Start: p, End: end[:i+1]}
		}
	}
	return kv.ScanOptions{Start: p}
}
