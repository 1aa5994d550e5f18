package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/w3dag/w3dag/kv"
)

type tx struct {
	ctx      context.Context
	s        *Store
	ptx      pgx.Tx
	writable bool
	done     bool
	scanning int // depth of Scan calls in progress
	shard    int // counter shard this transaction adds to

	// dbErr is the first error a statement returned; after it PostgreSQL has aborted the
	// transaction. conflict reports that it was a serialization failure or deadlock.
	dbErr    error
	conflict bool

	// writes holds the Puts (and Deletes, as tombstones) not yet sent, by key; adds holds
	// the counter deltas not yet sent, by counter key. flush sends them as a few batched
	// statements, before a Scan or Counter and at commit; Get reads writes first.
	writes map[string]write
	adds   map[string]int64

	// reads holds the values Prefetch read, by key, nil for a key found absent; Get
	// answers from it. A write of the key (buffer) drops it: after a flush the table
	// holds the write, and Get reads it there.
	reads map[string][]byte
}

// write is one buffered Put (value) or Delete (del).
type write struct {
	value []byte
	del   bool
}

// splitKey returns the stored form of key: its first KeyPrefixSize bytes, the rest, and
// the SHA-256 of the rest (empty when the rest is).
func splitKey(key []byte) (k1, k2, h []byte) {
	if len(key) <= KeyPrefixSize {
		return key, []byte{}, []byte{}
	}
	sum := sha256.Sum256(key[KeyPrefixSize:])
	return key[:KeyPrefixSize], key[KeyPrefixSize:], sum[:]
}

// counterHash identifies a counter row group.
func counterHash(key []byte) []byte {
	sum := sha256.Sum256(key)
	return sum[:]
}

// fail records a database error (the first one is kept) and returns it wrapped.
func (t *tx) fail(op string, err error) error {
	if t.dbErr == nil {
		t.dbErr = err
	}
	if isConflict(err) {
		t.conflict = true
	}
	return fmt.Errorf("postgres kv %s: %w", op, err)
}

func (t *tx) checkRead() error {
	if t.done {
		return errTxDone
	}
	return nil
}

func (t *tx) checkWrite() error {
	switch {
	case t.done:
		return errTxDone
	case !t.writable:
		return kv.ErrReadOnly
	case t.scanning > 0:
		return errWriteInScan
	}
	return nil
}

func (t *tx) Get(key []byte) ([]byte, error) {
	if err := t.checkRead(); err != nil {
		return nil, err
	}
	if err := kv.CheckKey(key); err != nil {
		return nil, err
	}
	if w, ok := t.writes[string(key)]; ok {
		if w.del {
			return nil, kv.ErrNotFound
		}
		return w.value, nil
	}
	if v, ok := t.reads[string(key)]; ok {
		if v == nil {
			return nil, kv.ErrNotFound
		}
		return v, nil
	}
	k1, _, h := splitKey(key)
	var v []byte
	err := t.ptx.QueryRow(t.ctx, t.s.sql.get, k1, h).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, kv.ErrNotFound
	}
	if err != nil {
		return nil, t.fail("get", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (t *tx) Put(key, value []byte) error {
	if err := t.checkWrite(); err != nil {
		return err
	}
	if err := kv.CheckKey(key); err != nil {
		return err
	}
	if err := kv.CheckValue(value); err != nil {
		return err
	}
	// Copied: the caller may reuse its slices, and the column is NOT NULL (a nil value
	// would be sent as NULL; the copy is never nil).
	t.buffer(key, write{value: append(make([]byte, 0, len(value)), value...)})
	return nil
}

// buffer records w as the pending write of key, to be sent by flush.
func (t *tx) buffer(key []byte, w write) {
	if t.writes == nil {
		t.writes = make(map[string]write)
	}
	t.writes[string(key)] = w
	delete(t.reads, string(key))
}

func (t *tx) Delete(key []byte) error {
	if err := t.checkWrite(); err != nil {
		return err
	}
	if err := kv.CheckKey(key); err != nil {
		return err
	}
	t.buffer(key, write{del: true})
	return nil
}

func (t *tx) Add(key []byte, delta int64) error {
	if err := t.checkWrite(); err != nil {
		return err
	}
	if err := kv.CheckKey(key); err != nil {
		return err
	}
	if t.adds == nil {
		t.adds = make(map[string]int64)
	}
	t.adds[string(key)] += delta
	return nil
}

func (t *tx) Counter(key []byte) (int64, error) {
	if err := t.checkRead(); err != nil {
		return 0, err
	}
	if err := kv.CheckKey(key); err != nil {
		return 0, err
	}
	if err := t.flush(); err != nil {
		return 0, err
	}
	var n int64
	if err := t.ptx.QueryRow(t.ctx, t.s.sql.counter, counterHash(key)).Scan(&n); err != nil {
		return 0, t.fail("counter", err)
	}
	return n, nil
}

// row is one key/value fetched by a scan page.
type row struct{ k, v []byte }

func (t *tx) Scan(opts kv.ScanOptions, fn func(k, v []byte) error) error {
	if err := t.checkRead(); err != nil {
		return err
	}
	start, end := opts.Start, opts.End
	if len(start) == 0 {
		start = nil
	}
	if end != nil && bytes.Compare(start, end) >= 0 {
		return nil
	}
	// The scan reads the table, so it must hold this transaction's writes; fn cannot
	// write, so nothing is buffered while the scan runs.
	if err := t.flush(); err != nil {
		return err
	}
	t.scanning++
	defer func() { t.scanning-- }()

	seen := 0
	for {
		pageSize := ScanPageSize
		if opts.Limit > 0 {
			pageSize = min(pageSize, opts.Limit-seen)
		}
		page, err := t.scanPage(start, end, opts.Reverse, pageSize)
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r.k, r.v); err != nil {
				if errors.Is(err, kv.ErrStop) {
					return nil
				}
				return err
			}
		}
		seen += len(page)
		if len(page) < pageSize || (opts.Limit > 0 && seen >= opts.Limit) {
			return nil
		}
		last := page[len(page)-1].k
		if opts.Reverse {
			end = last
		} else {
			// The smallest key after last.
			start = append(append(make([]byte, 0, len(last)+1), last...), 0)
		}
	}
}

// scanPage fetches up to limit rows of [start, end) in order; nil bounds are open.
func (t *tx) scanPage(start, end []byte, reverse bool, limit int) ([]row, error) {
	var q strings.Builder
	q.WriteString(t.s.sql.scanCols)
	var args []any
	var conds []string
	// The k1 comparisons are implied by the row comparisons; they let the planner use the
	// primary key index for the range.
	if start != nil {
		s1, s2, _ := splitKey(start)
		args = append(args, s1, s2)
		conds = append(conds, fmt.Sprintf("k1 >= $%d AND (k1, k2) >= ($%d, $%d)", len(args)-1, len(args)-1, len(args)))
	}
	if end != nil {
		e1, e2, _ := splitKey(end)
		args = append(args, e1, e2)
		conds = append(conds, fmt.Sprintf("k1 <= $%d AND (k1, k2) < ($%d, $%d)", len(args)-1, len(args)-1, len(args)))
	}
	if len(conds) > 0 {
		q.WriteString(" WHERE ")
		q.WriteString(strings.Join(conds, " AND "))
	}
	if reverse {
		q.WriteString(" ORDER BY k1 DESC, k2 DESC")
	} else {
		q.WriteString(" ORDER BY k1, k2")
	}
	q.WriteString(" LIMIT " + strconv.Itoa(limit))

	rows, err := t.ptx.Query(t.ctx, q.String(), args...)
	if err != nil {
		return nil, t.fail("scan", err)
	}
	defer rows.Close()
	page := make([]row, 0, limit)
	for rows.Next() {
		var k1, k2, v []byte
		if err := rows.Scan(&k1, &k2, &v); err != nil {
			return nil, t.fail("scan", err)
		}
		k := k1
		if len(k2) > 0 {
			k = append(k1, k2...)
		}
		if v == nil {
			v = []byte{}
		}
		page = append(page, row{k, v})
	}
	if err := rows.Err(); err != nil {
		return nil, t.fail("scan", err)
	}
	return page, nil
}
