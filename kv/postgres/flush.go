package postgres

import (
	"slices"

	"github.com/jackc/pgx/v5"
)

// flush sends the buffered writes and counter deltas as one pipelined batch (one round
// trip): a DELETE for the tombstones, an upsert for the values and an upsert for the
// counter deltas, each split at FlushMaxRows rows or FlushMaxBytes bytes. Rows go in key
// order, so concurrent transactions lock common rows in the same order.
func (t *tx) flush() error {
	if len(t.writes) == 0 && len(t.adds) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	keys := make([]string, 0, len(t.writes))
	for k := range t.writes {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	var del chunk
	var put chunk
	for _, k := range keys {
		w := t.writes[k]
		k1, k2, h := splitKey([]byte(k))
		if w.del {
			del.add(b, t.s.sql.delMany, len(k), k1, h)
		} else {
			put.add(b, t.s.sql.putMany, len(k)+len(w.value), k1, k2, h, w.value)
		}
	}
	del.queue(b, t.s.sql.delMany)
	put.queue(b, t.s.sql.putMany)

	if len(t.adds) > 0 {
		ckeys := make([]string, 0, len(t.adds))
		for k := range t.adds {
			ckeys = append(ckeys, k)
		}
		slices.Sort(ckeys)
		for part := range slices.Chunk(ckeys, FlushMaxRows) {
			hs := make([][]byte, len(part))
			ks := make([][]byte, len(part))
			ns := make([]int64, len(part))
			for i, k := range part {
				ks[i] = []byte(k)
				hs[i] = counterHash(ks[i])
				ns[i] = t.adds[k]
			}
			b.Queue(t.s.sql.addMany, hs, t.shard, ks, ns)
		}
	}

	t.writes, t.adds = nil, nil
	if err := t.ptx.SendBatch(t.ctx, b).Close(); err != nil {
		return t.fail("flush", err)
	}
	return nil
}

// chunk gathers the columns of one array statement of a flush.
type chunk struct {
	cols  [][][]byte
	bytes int
}

// add appends one row (one value per column), first queueing the rows gathered so far as
// stmt when the row would take the chunk past FlushMaxRows or FlushMaxBytes.
func (c *chunk) add(b *pgx.Batch, stmt string, size int, row ...[]byte) {
	if len(c.cols) > 0 && (len(c.cols[0]) >= FlushMaxRows || c.bytes+size > FlushMaxBytes) {
		c.queue(b, stmt)
	}
	if c.cols == nil {
		c.cols = make([][][]byte, len(row))
	}
	for i, v := range row {
		c.cols[i] = append(c.cols[i], v)
	}
	c.bytes += size
}

// queue adds the gathered rows to b as stmt, with one array argument per column, and
// empties the chunk.
func (c *chunk) queue(b *pgx.Batch, stmt string) {
	if len(c.cols) == 0 || len(c.cols[0]) == 0 {
		return
	}
	args := make([]any, len(c.cols))
	for i, col := range c.cols {
		args[i] = col
	}
	b.Queue(stmt, args...)
	c.cols, c.bytes = nil, 0
}
