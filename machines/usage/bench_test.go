package usage_test

import (
	"context"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/usage"
)

// BenchmarkRecord measures one usage record (self-issued invocation, record entry with
// its receipt, counted key, size counter) in its own transaction on kv/mem.
func BenchmarkRecord(b *testing.B) {
	v := machinestest.Open(b, mem.New(), nil, nil, nil)
	space := machinestest.Signer(b).DID()
	blobs := make([]cid.Cid, 1024)
	for i := range blobs {
		blobs[i] = machinestest.CAR(b)
	}
	ctx := context.Background()
	var cause cid.Cid
	if err := v.E.Update(ctx, func(tx *dag.Tx) error {
		inv, err := tx.Invoke("/bench/cause", nil)
		cause = inv.CID
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		delta := int64(100)
		if (i/len(blobs))%2 == 1 {
			delta = -100
		}
		err := v.E.Update(ctx, func(tx *dag.Tx) error {
			_, err := usage.Record(tx, space, blobs[i%len(blobs)], delta, cause)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompute measures a report over 100 000 records.
func BenchmarkCompute(b *testing.B) {
	evs := make([]usage.Event, 100_000)
	for i := range evs {
		d := int64(1 << 20)
		if i%3 == 2 {
			d = -(1 << 20)
		}
		evs[i] = usage.Event{TS: int64(i) * 1000, Delta: d, Seq: uint64(i)}
	}
	from, to := time.UnixMilli(10_000_000), time.UnixMilli(90_000_000)
	b.ResetTimer()
	for range b.N {
		if _, err := usage.Compute(evs, from, to); err != nil {
			b.Fatal(err)
		}
	}
}
