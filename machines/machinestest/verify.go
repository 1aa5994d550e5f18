package machinestest

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/usage"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// Change is one change of a space's size found in the commit log: a store entry reaching
// done (+size) or a done entry removed (−size).
type Change struct {
	TS    int64
	Seq   uint64
	Delta int64
	// Ran is the invocation whose receipt made the change.
	Ran cid.Cid
	Key string
}

// Truth is what the commit log says, recomputed by brute force from the receipts alone.
type Truth struct {
	// Changes per space, in commit order.
	Changes map[string][]Change
	// UploadsAdded and UploadsRemoved count upload entries (re)started and removed, per
	// space.
	UploadsAdded, UploadsRemoved map[string]int64
}

// Recompute walks the whole commit log of e and derives, from the store and upload
// receipts and the sizes the driver gave each (space, CAR) (sizes[space+"/"+key]), what
// usage and metrics must be: a space holds the bytes of every store entry whose status is
// done. It verifies every receipt's signature on the way.
func Recompute(ctx context.Context, e *dag.Engine, sizes map[string]int64) (*Truth, error) {
	tr := &Truth{Changes: map[string][]Change{}, UploadsAdded: map[string]int64{}, UploadsRemoved: map[string]int64{}}
	status := map[string]string{} // path → last status
	var after uint64
	for {
		evs, err := e.Log(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			return tr, nil
		}
		for _, ev := range evs {
			if ev.Seq != after+1 {
				return nil, fmt.Errorf("commit log gap: %d after %d", ev.Seq, after)
			}
			after = ev.Seq
			if ev.Path.Collection != "store" && ev.Path.Collection != "upload" {
				continue
			}
			raw, err := e.Block(ctx, ev.Receipt)
			if err != nil {
				return nil, fmt.Errorf("log %d: %w", ev.Seq, err)
			}
			tok, r, err := receipts.Decode(raw)
			if err != nil {
				return nil, fmt.Errorf("log %d: %w", ev.Seq, err)
			}
			if _, err := receipts.Verify(tok, e.Service()); err != nil {
				return nil, fmt.Errorf("log %d: %w", ev.Seq, err)
			}
			sn, err := r.Out.Ok.LookupByString(dag.StatusKey)
			if err != nil {
				return nil, fmt.Errorf("log %d: no status", ev.Seq)
			}
			st, _ := sn.AsString()
			k := ev.Path.String()
			prev := status[k]
			status[k] = st
			space := ev.Path.Subject
			if ev.Path.Collection == "upload" {
				switch {
				case st == dag.StatusDone && (prev == "" || prev == dag.StatusRemoved):
					tr.UploadsAdded[space]++
				case st == dag.StatusRemoved && prev != dag.StatusRemoved:
					tr.UploadsRemoved[space]++
				}
				continue
			}
			size, ok := sizes[space+"/"+ev.Path.Key]
			if !ok {
				return nil, fmt.Errorf("log %d: no size known for %s", ev.Seq, k)
			}
			var delta int64
			switch {
			case st == dag.StatusDone && prev != dag.StatusDone:
				delta = size
			case st != dag.StatusDone && prev == dag.StatusDone:
				delta = -size
			default:
				continue
			}
			tr.Changes[space] = append(tr.Changes[space], Change{TS: r.TS, Seq: ev.Seq, Delta: delta, Ran: r.Ran, Key: ev.Path.Key})
		}
	}
}

// Integral is the brute-force byte·ms integral of changes over [from, to) and the sizes
// at from and to: the size during millisecond t is the sum of the deltas at or before t.
func Integral(changes []Change, from, to int64) (initial, final int64, byteMs *big.Int) {
	cs := append([]Change(nil), changes...)
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].TS != cs[j].TS {
			return cs[i].TS < cs[j].TS
		}
		return cs[i].Seq < cs[j].Seq
	})
	byteMs = new(big.Int)
	size, i := int64(0), 0
	for ; i < len(cs) && cs[i].TS < from; i++ {
		size += cs[i].Delta
	}
	initial = size
	at := from
	for ; i < len(cs) && cs[i].TS < to; i++ {
		byteMs.Add(byteMs, new(big.Int).Mul(big.NewInt(size), big.NewInt(cs[i].TS-at)))
		size += cs[i].Delta
		at = cs[i].TS
	}
	byteMs.Add(byteMs, new(big.Int).Mul(big.NewInt(size), big.NewInt(to-at)))
	return initial, size, byteMs
}

// IntegralPerMs is Integral computed one millisecond at a time (for short windows): the
// plainest statement of the rule, to check Integral itself.
func IntegralPerMs(changes []Change, from, to int64) *big.Int {
	sum := new(big.Int)
	for t := from; t < to; t++ {
		var size int64
		for _, c := range changes {
			if c.TS <= t {
				size += c.Delta
			}
		}
		sum.Add(sum, big.NewInt(size))
	}
	return sum
}

// Check compares the usage and metrics of e with the truth for spaces over the windows
// (unix ms pairs), and checks that every usage record names its cause and verifies.
func Check(ctx context.Context, e *dag.Engine, tr *Truth, spaces []string, windows [][2]int64) error {
	var svc [len4]int64
	for _, space := range spaces {
		changes := tr.Changes[space]
		for _, w := range windows {
			s, err := usage.Report(ctx, e, space, time.UnixMilli(w[0]), time.UnixMilli(w[1]))
			if err != nil {
				return err
			}
			initial, final, byteMs := Integral(changes, w[0], w[1])
			if s.Initial != initial || s.Final != final || s.ByteMs.Cmp(byteMs) != 0 {
				return fmt.Errorf("%s [%d, %d): usage initial %d final %d byte·ms %s; receipts say %d %d %s",
					space, w[0], w[1], s.Initial, s.Final, s.ByteMs, initial, final, byteMs)
			}
		}
		evs, err := usage.Events(ctx, e, space)
		if err != nil {
			return err
		}
		// The non-zero usage records are the changes, one for one, in order, at the
		// change's time and naming the invocation whose receipt made it.
		var nonzero []usage.Event
		for _, ev := range evs {
			if ev.Delta != 0 {
				nonzero = append(nonzero, ev)
			}
			if err := e.Chain(ctx, ev.Receipt, func(*ucan.Token, *receipts.Receipt) error { return nil }); err != nil {
				return fmt.Errorf("usage record %s of %s: %w", ev.Key, space, err)
			}
		}
		if len(nonzero) != len(changes) {
			return fmt.Errorf("%s: %d non-zero usage records, %d changes in the log", space, len(nonzero), len(changes))
		}
		for i, c := range changes {
			ev := nonzero[i]
			if ev.Delta != c.Delta || ev.TS != c.TS || !ev.Cause.Equals(c.Ran) || ev.Blob.String() != c.Key {
				return fmt.Errorf("%s: usage record %d {blob %s delta %d ts %d cause %s}, change {%s %d %d %s}",
					space, i, ev.Blob, ev.Delta, ev.TS, ev.Cause, c.Key, c.Delta, c.TS, c.Ran)
			}
		}
		var final int64
		var want [len4]int64
		for _, c := range changes {
			final += c.Delta
			if c.Delta > 0 {
				want[0]++
				want[1] += c.Delta
			} else {
				want[2]++
				want[3] -= c.Delta
			}
		}
		var size int64
		if err := e.View(ctx, func(tx *dag.Tx) error {
			var err error
			size, err = usage.Size(tx, space)
			return err
		}); err != nil {
			return err
		}
		if size != final {
			return fmt.Errorf("%s: size counter %d, receipts say %d", space, size, final)
		}
		if err := checkMetrics(ctx, e, space, want, tr.UploadsAdded[space], tr.UploadsRemoved[space]); err != nil {
			return err
		}
		for i := range svc {
			svc[i] += want[i]
		}
	}
	var ua, ur int64
	for _, n := range tr.UploadsAdded {
		ua += n
	}
	for _, n := range tr.UploadsRemoved {
		ur += n
	}
	return checkMetrics(ctx, e, e.Service(), svc, ua, ur)
}

const len4 = 4

var storeMetrics = [len4]string{metrics.StoreAddTotal, metrics.StoreAddSizeTotal, metrics.StoreRemoveTotal, metrics.StoreRemoveSizeTotal}

func checkMetrics(ctx context.Context, e *dag.Engine, subject string, want [len4]int64, uploadsAdded, uploadsRemoved int64) error {
	names := append(storeMetrics[:], metrics.UploadAddTotal, metrics.UploadRemoveTotal)
	wants := append(want[:], uploadsAdded, uploadsRemoved)
	for i, n := range names {
		got, err := metrics.Value(ctx, e, subject, n)
		if err != nil {
			return err
		}
		if got != wants[i] {
			return fmt.Errorf("%s %s = %d, receipts say %d", subject, n, got, wants[i])
		}
	}
	return nil
}
