package replay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
)

// comparePage is how many keys Compare reads from each store per transaction.
const comparePage = 1000

// Skipped are the key prefixes Compare ignores: where the archive's outbox and segment
// index are kept, and the JSON log exporter's position (archive/logs). They describe how
// messages were stored and how far the logs were written, not the state.
var Skipped = []string{"outbox/", "archive/", "logs/"}

// Diff is the first difference Compare found.
type Diff struct {
	// Key is the kv key that differs.
	Key string
	// Path is the entry path when Key is an entry record ("" otherwise).
	Path string
	// Want and Got describe the key's value in the expected (live) and the rebuilt
	// store: an entry's head receipt CID, otherwise the value's length and SHA-256;
	// "(none)" when the store lacks the key.
	Want, Got string
}

func (d *Diff) String() string {
	if d.Path != "" {
		return fmt.Sprintf("%s: expected head %s, got head %s", d.Path, d.Want, d.Got)
	}
	return fmt.Sprintf("key %s: expected %s, got %s", strconv.Quote(d.Key), d.Want, d.Got)
}

// Compare reads two stores in key order and returns the first key whose value differs
// (present in one only, or different bytes), or nil when they hold the same keys and
// values outside Skipped. Counters (kv.Tx.Add) are not keys and are not compared.
func Compare(ctx context.Context, want, got kv.Store) (*Diff, error) {
	wi := &iter{s: want}
	gi := &iter{s: got}
	for {
		wk, wv, err := wi.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the expected store: %w", err)
		}
		gk, gv, err := gi.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the rebuilt store: %w", err)
		}
		switch {
		case wk == nil && gk == nil:
			return nil, nil
		case gk == nil || (wk != nil && bytes.Compare(wk, gk) < 0):
			return describe(wk, wv, nil), nil
		case wk == nil || bytes.Compare(gk, wk) < 0:
			return describe(gk, nil, gv), nil
		case !bytes.Equal(wv, gv):
			return describe(wk, wv, gv), nil
		}
		wi.advance()
		gi.advance()
	}
}

// describe makes the Diff of key (values nil when absent).
func describe(key, want, got []byte) *Diff {
	d := &Diff{Key: string(key), Want: summary(want), Got: summary(got)}
	if bytes.HasPrefix(key, []byte(dag.EntryPrefix)) {
		head := func(v []byte) string {
			if v == nil {
				return "(none)"
			}
			e, err := dag.DecodeEntryRecord(key, v)
			if err != nil {
				return "(undecodable: " + err.Error() + ")"
			}
			d.Path = e.Path.String()
			return e.Head.String()
		}
		d.Want, d.Got = head(want), head(got)
		if d.Path == "" {
			d.Path = "/" + string(key[len(dag.EntryPrefix):])
		}
	}
	return d
}

func summary(v []byte) string {
	if v == nil {
		return "(none)"
	}
	sum := sha256.Sum256(v)
	return fmt.Sprintf("%d bytes sha256:%s", len(v), hex.EncodeToString(sum[:8]))
}

// iter walks a store's keys outside Skipped in pages.
type iter struct {
	s    kv.Store
	page [][2][]byte
	pos  int
	from []byte // first key of the next page
	done bool
}

// next returns the current key and value (nil at the end) without moving.
func (it *iter) next(ctx context.Context) ([]byte, []byte, error) {
	for it.pos >= len(it.page) {
		if it.done {
			return nil, nil, nil
		}
		if err := it.fill(ctx); err != nil {
			return nil, nil, err
		}
	}
	kvp := it.page[it.pos]
	return kvp[0], kvp[1], nil
}

func (it *iter) advance() { it.pos++ }

func (it *iter) fill(ctx context.Context) error {
	it.page, it.pos = it.page[:0], 0
	var last []byte
	n := 0
	err := it.s.View(ctx, func(tx kv.Tx) error {
		it.page, n, last = it.page[:0], 0, nil
		return tx.Scan(kv.ScanOptions{Start: it.from, Limit: comparePage}, func(k, v []byte) error {
			n++
			last = append(last[:0], k...)
			if skipped(k) {
				return nil
			}
			it.page = append(it.page, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
			return nil
		})
	})
	if err != nil {
		return err
	}
	if n < comparePage {
		it.done = true
		return nil
	}
	it.from = append(last, 0) // the first key after last
	return nil
}

func skipped(k []byte) bool {
	for _, p := range Skipped {
		if bytes.HasPrefix(k, []byte(p)) {
			return true
		}
	}
	return false
}
