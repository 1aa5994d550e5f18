package machinestest_test

import (
	"context"
	"testing"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
)

// benchPut measures a put of a new odd-sized store entry (done at once) per iteration,
// from 8 goroutines (so the engine group-commits), on kv/mem.
func benchPut(b *testing.B, store dag.Machine) {
	v := machinestest.Open(b, mem.New(), nil, machinestest.Collections(store), nil)
	owner := machinestest.Signer(b)
	ctx := context.Background()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := machinestest.CAR(b)
			p := machinestest.Path(owner.DID(), "store", c.String())
			val := machinestest.StoreValue(c, 1001)
			res, err := v.E.Put(ctx, machinestest.Invocation(b, owner, "/dag/put", p, val), p, val)
			if err != nil || res.Err != nil {
				b.Fatal(err, res.Err)
			}
		}
	})
}

// BenchmarkPutWithUsage: the store-like machine, with usage record (invocation, entry,
// receipt) and four counters in the same transaction.
func BenchmarkPutWithUsage(b *testing.B) { benchPut(b, machinestest.StoreLike{}) }

// BenchmarkPutPlain: the same put with the generic record machine, for comparison.
func BenchmarkPutPlain(b *testing.B) { benchPut(b, dag.RecordMachine{}) }
