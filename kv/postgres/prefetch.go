package postgres

import (
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/w3dag/w3dag/kv"
)

var _ kv.Prefetcher = (*tx)(nil)

// Prefetch reads the keys not already read or buffered in one pipelined batch of getMany
// statements (PrefetchMaxKeys keys each) and keeps their values, and their absence, for
// Get (kv.Prefetcher). The reads are the transaction's own, in its snapshot, so a later
// Get would have read the same unless the transaction wrote the key since; a write drops
// the key from what Get answers from (buffer).
func (t *tx) Prefetch(keys [][]byte) error {
	if err := t.checkRead(); err != nil {
		return err
	}
	for _, k := range keys {
		if err := kv.CheckKey(k); err != nil {
			return err
		}
	}
	// Absent until found.
	got := make(map[string][]byte, len(keys))
	for _, k := range keys {
		if _, ok := t.writes[string(k)]; ok {
			continue
		}
		if _, ok := t.reads[string(k)]; ok {
			continue
		}
		got[string(k)] = nil
	}
	if len(got) == 0 {
		return nil
	}
	want := make([]string, 0, len(got))
	for k := range got {
		want = append(want, k)
	}
	slices.Sort(want)

	b := &pgx.Batch{}
	for part := range slices.Chunk(want, PrefetchMaxKeys) {
		k1s := make([][]byte, len(part))
		hs := make([][]byte, len(part))
		for i, k := range part {
			k1s[i], _, hs[i] = splitKey([]byte(k))
		}
		b.Queue(t.s.sql.getMany, k1s, hs)
	}
	br := t.ptx.SendBatch(t.ctx, b)
	for range b.Len() {
		if err := readRows(br, got); err != nil {
			_ = br.Close()
			return t.fail("prefetch", err)
		}
	}
	if err := br.Close(); err != nil {
		return t.fail("prefetch", err)
	}
	if t.reads == nil {
		t.reads = got
	} else {
		maps.Copy(t.reads, got)
	}
	return nil
}

// readRows reads the rows of the next getMany statement of br into got, by key.
func readRows(br pgx.BatchResults, got map[string][]byte) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k1, k2, v []byte
		if err := rows.Scan(&k1, &k2, &v); err != nil {
			return err
		}
		if v == nil {
			v = []byte{}
		}
		got[string(k1)+string(k2)] = v
	}
	return rows.Err()
}
