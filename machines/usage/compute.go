package usage

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"slices"
	"time"
)

// cmpEvent orders records by time, then commit sequence.
func cmpEvent(a, b Event) int {
	if c := cmp.Compare(a.TS, b.TS); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

// Summary is the usage of a space over the window [From, To).
type Summary struct {
	Space string
	From  time.Time
	To    time.Time
	// Initial is the size in bytes at From (the deltas of records before From).
	Initial int64
	// Final is the size in bytes at To (Initial and the deltas in the window).
	Final int64
	// ByteMs is the exact integral of the size over the window in byte·milliseconds.
	ByteMs *big.Int
	// Events are the records in the window, in time order.
	Events []Event
}

// Compute returns the Summary over [from, to) (at millisecond precision) of the usage
// records evs, which may include records outside the window and come in any order:
// records before from make the initial size, records in the window change the size at
// their timestamp, records at or after to are left out. The integral is computed in
// integer arithmetic (math/big), so it is exact for any size and window.
func Compute(evs []Event, from, to time.Time) (*Summary, error) {
	f, t := from.UnixMilli(), to.UnixMilli()
	if f >= t {
		return nil, fmt.Errorf("%w: from %d ms is not before to %d ms", ErrInvalidWindow, f, t)
	}
	// Records usually come in commit order, which is time order: sort only when not.
	sorted := evs
	if !slices.IsSortedFunc(evs, cmpEvent) {
		sorted = slices.Clone(evs)
		slices.SortStableFunc(sorted, cmpEvent)
	}
	s := &Summary{From: time.UnixMilli(f).UTC(), To: time.UnixMilli(t).UTC()}
	// sorted[i:j] are the records in the window
	i, _ := slices.BinarySearchFunc(sorted, f, func(e Event, ts int64) int { return cmp.Compare(e.TS, ts) })
	j, _ := slices.BinarySearchFunc(sorted, t, func(e Event, ts int64) int { return cmp.Compare(e.TS, ts) })
	size := int64(0)
	for _, ev := range sorted[:i] {
		size += ev.Delta
	}
	s.Initial = size
	at := f
	var acc integral
	for _, ev := range sorted[i:j] {
		acc.add(size, ev.TS-at) // the size held from at until this record
		size += ev.Delta
		at = ev.TS
	}
	acc.add(size, t-at)
	s.Final = size
	s.ByteMs = acc.sum()
	s.Events = slices.Clone(sorted[i:j])
	return s, nil
}

// integral sums size·duration products exactly: in an int64 while the products and their
// sum fit, in a big.Int beyond.
type integral struct {
	small int64
	large big.Int
	x, y  big.Int
}

func (a *integral) add(size, dur int64) {
	if p, ok := mul64(size, dur); ok {
		if s := a.small + p; (p >= 0) == (s >= a.small) {
			a.small = s
			return
		}
	}
	a.x.SetInt64(size)
	a.y.SetInt64(dur)
	a.large.Add(&a.large, a.x.Mul(&a.x, &a.y))
}

func (a *integral) sum() *big.Int {
	return new(big.Int).Add(&a.large, big.NewInt(a.small))
}

// mul64 returns a·b when it fits in an int64.
func mul64(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	if a == math.MinInt64 || b == math.MinInt64 {
		return 0, false
	}
	neg := (a < 0) != (b < 0)
	hi, lo := bits.Mul64(uint64(abs(a)), uint64(abs(b)))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(lo), true
	}
	return int64(lo), true
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
