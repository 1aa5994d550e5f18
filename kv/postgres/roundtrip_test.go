package postgres

import (
	"fmt"
	"testing"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/postgres/postgrestest"
)

// TestRoundTripsPerCommit checks that a group-commit-like transaction (many Puts, Deletes
// and Adds, a few Gets) costs a small, fixed number of round trips however many keys it
// writes: begin, one per Get, one flush batch, commit. Before writes were buffered it was
// one round trip per key (2 + 3×keys + gets).
func TestRoundTripsPerCommit(t *testing.T) {
	rt := &postgrestest.RoundTrips{}
	s := openTest(t, Options{Tracer: rt})
	defer s.Close()
	ctx := t.Context()
	for _, keys := range []int{1, 10, 100, 2500} {
		t.Run(fmt.Sprint(keys), func(t *testing.T) {
			before := rt.Load()
			err := s.Update(ctx, func(tx kv.Tx) error {
				for i := range keys {
					k := fmt.Appendf(nil, "rt/%d/%06d", keys, i)
					if err := tx.Put(k, []byte("value")); err != nil {
						return err
					}
					if err := tx.Delete(fmt.Appendf(nil, "rt/%d/gone/%06d", keys, i)); err != nil {
						return err
					}
					if err := tx.Add(fmt.Appendf(nil, "rt/%d/count/%d", keys, i%7), 1); err != nil {
						return err
					}
				}
				// Reads of buffered writes are answered locally.
				v, err := tx.Get(fmt.Appendf(nil, "rt/%d/%06d", keys, 0))
				if err != nil || string(v) != "value" {
					return fmt.Errorf("get of a buffered put = %q, %v", v, err)
				}
				if _, err := tx.Get(fmt.Appendf(nil, "rt/%d/gone/%06d", keys, 0)); err != kv.ErrNotFound {
					return fmt.Errorf("get of a buffered delete = %v, want ErrNotFound", err)
				}
				// One read of an unwritten key goes to the server.
				if _, err := tx.Get([]byte("rt/absent")); err != kv.ErrNotFound {
					return fmt.Errorf("get of an absent key = %v, want ErrNotFound", err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got := rt.Load() - before
			// begin + 1 Get + flush + commit.
			const want = 4
			t.Logf("%d keys (%d Puts, %d Deletes, %d Adds): %d round trips", keys, keys, keys, keys, got)
			if got > want {
				t.Fatalf("%d keys: %d round trips, want at most %d", keys, got, want)
			}
			var n int
			var c int64
			if err := s.View(ctx, func(tx kv.Tx) error {
				if err := tx.Scan(kv.ScanOptions{Start: fmt.Appendf(nil, "rt/%d/0", keys), End: fmt.Appendf(nil, "rt/%d/:", keys)}, func(k, v []byte) error {
					n++
					return nil
				}); err != nil {
					return err
				}
				var err error
				c, err = tx.Counter(fmt.Appendf(nil, "rt/%d/count/0", keys))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if n != keys {
				t.Fatalf("%d keys put, %d found", keys, n)
			}
			if want := int64((keys + 6) / 7); c != want {
				t.Fatalf("counter = %d, want %d", c, want)
			}
		})
	}
}

// TestRoundTripsPrefetch checks that a Prefetch of many keys costs one round trip however
// many keys it reads (several statements past PrefetchMaxKeys, in one batch), and that Gets
// of the prefetched keys, present or absent, cost none.
func TestRoundTripsPrefetch(t *testing.T) {
	rt := &postgrestest.RoundTrips{}
	s := openTest(t, Options{Tracer: rt})
	defer s.Close()
	ctx := t.Context()
	key := func(i int) []byte { return fmt.Appendf(nil, "pf/%06d", i) }
	if err := s.Update(ctx, func(tx kv.Tx) error {
		for i := 0; i < 2500; i += 2 {
			if err := tx.Put(key(i), []byte("value")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, keys := range []int{1, 10, 100, 2500} {
		t.Run(fmt.Sprint(keys), func(t *testing.T) {
			before := rt.Load()
			err := s.Update(ctx, func(tx kv.Tx) error {
				ks := make([][]byte, keys)
				for i := range ks {
					ks[i] = key(i)
				}
				if err := tx.(kv.Prefetcher).Prefetch(ks); err != nil {
					return err
				}
				for i := range keys {
					v, err := tx.Get(key(i))
					if i%2 == 1 {
						if err != kv.ErrNotFound {
							return fmt.Errorf("get of absent key %d = %q, %v", i, v, err)
						}
					} else if err != nil || string(v) != "value" {
						return fmt.Errorf("get of key %d = %q, %v", i, v, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got := rt.Load() - before
			// begin + Prefetch + commit.
			const want = 3
			t.Logf("%d keys prefetched and read: %d round trips", keys, got)
			if got > want {
				t.Fatalf("%d keys: %d round trips, want at most %d", keys, got, want)
			}
		})
	}
}
