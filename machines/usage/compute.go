package usage

import (
	"fmt"
	"math/big"
	"sort"
	"time"
)

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
	sorted := append([]Event(nil), evs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].TS != sorted[j].TS {
			return sorted[i].TS < sorted[j].TS
		}
		return sorted[i].Seq < sorted[j].Seq
	})
	s := &Summary{From: time.UnixMilli(f).UTC(), To: time.UnixMilli(t).UTC(), ByteMs: new(big.Int)}
	size := int64(0)
	at := f
	var seg, dur big.Int
	for _, ev := range sorted {
		switch {
		case ev.TS < f:
			size += ev.Delta
			continue
		case ev.TS >= t:
			continue
		}
		if len(s.Events) == 0 {
			s.Initial = size
		}
		// the size held from at until this event
		seg.SetInt64(size)
		dur.SetInt64(ev.TS - at)
		s.ByteMs.Add(s.ByteMs, seg.Mul(&seg, &dur))
		size += ev.Delta
		at = ev.TS
		s.Events = append(s.Events, ev)
	}
	if len(s.Events) == 0 {
		s.Initial = size
	}
	seg.SetInt64(size)
	dur.SetInt64(t - at)
	s.ByteMs.Add(s.ByteMs, seg.Mul(&seg, &dur))
	s.Final = size
	return s, nil
}
