package usage_test

import (
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/w3dag/w3dag/machines/usage"
)

func ms(n int64) time.Time { return time.UnixMilli(n) }

func TestCompute(t *testing.T) {
	ev := func(ts, delta int64, seq uint64) usage.Event { return usage.Event{TS: ts, Delta: delta, Seq: seq} }
	huge := new(big.Int).Mul(big.NewInt(1<<62), big.NewInt(1000))
	tests := []struct {
		name           string
		evs            []usage.Event
		from, to       int64
		initial, final int64
		byteMs         *big.Int
		inWindow       int
	}{
		{name: "no records", from: 0, to: 10, byteMs: big.NewInt(0)},
		{name: "record before the window", evs: []usage.Event{ev(5, 100, 1)}, from: 10, to: 20, initial: 100, final: 100, byteMs: big.NewInt(1000)},
		{name: "record at from is in the window", evs: []usage.Event{ev(10, 100, 1)}, from: 10, to: 20, initial: 0, final: 100, byteMs: big.NewInt(1000), inWindow: 1},
		{name: "record at to is not", evs: []usage.Event{ev(20, 100, 1)}, from: 10, to: 20, initial: 0, final: 0, byteMs: big.NewInt(0)},
		{name: "record one ms before to", evs: []usage.Event{ev(19, 100, 1)}, from: 10, to: 20, final: 100, byteMs: big.NewInt(100), inWindow: 1},
		{
			// 10→12: 100·2, 12→15: 150·3, 15→20: 50·5 = 200+450+250
			name: "changes inside", evs: []usage.Event{ev(0, 100, 1), ev(12, 50, 2), ev(15, -100, 3)},
			from: 10, to: 20, initial: 100, final: 50, byteMs: big.NewInt(900), inWindow: 2,
		},
		{
			name: "unsorted input", evs: []usage.Event{ev(15, -100, 3), ev(0, 100, 1), ev(12, 50, 2)},
			from: 10, to: 20, initial: 100, final: 50, byteMs: big.NewInt(900), inWindow: 2,
		},
		{
			// store and remove in the same ms: no bytes held for any time
			name: "same ms ordered by seq", evs: []usage.Event{ev(12, -70, 2), ev(12, 70, 1)},
			from: 10, to: 20, initial: 0, final: 0, byteMs: big.NewInt(0), inWindow: 2,
		},
		{name: "zero deltas listed", evs: []usage.Event{ev(11, 0, 1)}, from: 10, to: 20, byteMs: big.NewInt(0), inWindow: 1},
		{name: "records after the window", evs: []usage.Event{ev(1, 7, 1), ev(30, 5, 2)}, from: 10, to: 20, initial: 7, final: 7, byteMs: big.NewInt(70)},
		{name: "beyond int64", evs: []usage.Event{ev(0, 1<<62, 1)}, from: 0, to: 1000, initial: 0, final: 1 << 62, byteMs: huge, inWindow: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := usage.Compute(tt.evs, ms(tt.from), ms(tt.to))
			if err != nil {
				t.Fatal(err)
			}
			if s.Initial != tt.initial || s.Final != tt.final || s.ByteMs.Cmp(tt.byteMs) != 0 || len(s.Events) != tt.inWindow {
				t.Fatalf("got initial %d final %d byte·ms %s events %d; want %d %d %s %d", s.Initial, s.Final, s.ByteMs, len(s.Events), tt.initial, tt.final, tt.byteMs, tt.inWindow)
			}
			for i := 1; i < len(s.Events); i++ {
				if s.Events[i].TS < s.Events[i-1].TS {
					t.Fatalf("events out of time order: %v", s.Events)
				}
			}
		})
	}
}

func TestComputeWindow(t *testing.T) {
	for _, w := range [][2]int64{{10, 10}, {20, 10}} {
		if _, err := usage.Compute(nil, ms(w[0]), ms(w[1])); !errors.Is(err, usage.ErrInvalidWindow) {
			t.Errorf("window [%d, %d): got %v, want ErrInvalidWindow", w[0], w[1], err)
		}
	}
}

// The integral over a window equals the sum over any split of it.
func TestComputeAdditive(t *testing.T) {
	evs := []usage.Event{{TS: 3, Delta: 10, Seq: 1}, {TS: 7, Delta: 5, Seq: 2}, {TS: 9, Delta: -10, Seq: 3}, {TS: 14, Delta: 100, Seq: 4}}
	whole, err := usage.Compute(evs, ms(0), ms(20))
	if err != nil {
		t.Fatal(err)
	}
	for cut := int64(1); cut < 20; cut++ {
		a, _ := usage.Compute(evs, ms(0), ms(cut))
		b, _ := usage.Compute(evs, ms(cut), ms(20))
		sum := new(big.Int).Add(a.ByteMs, b.ByteMs)
		if sum.Cmp(whole.ByteMs) != 0 || a.Final != b.Initial {
			t.Fatalf("cut at %d: %s + %s != %s (final %d, initial %d)", cut, a.ByteMs, b.ByteMs, whole.ByteMs, a.Final, b.Initial)
		}
	}
}

// The int64 fast path and the big.Int path agree around the int64 limits.
func TestComputeOverflowEdges(t *testing.T) {
	const max = int64(^uint64(0) >> 1)
	cases := []struct {
		size int64
		dur  int64
	}{
		{max, 1}, {max, 2}, {-max, 3}, {max / 2, 2}, {max/2 + 1, 2}, {1 << 31, 1 << 32}, {-(1 << 40), 1 << 30},
	}
	for _, c := range cases {
		evs := []usage.Event{{TS: 0, Delta: c.size, Seq: 1}, {TS: c.dur, Delta: c.size, Seq: 2}}
		s, err := usage.Compute(evs, time.UnixMilli(0), time.UnixMilli(c.dur+1))
		if err != nil {
			t.Fatal(err)
		}
		// size·dur, then 2·size for the last millisecond (with wrapping of the int64 size)
		want := new(big.Int).Mul(big.NewInt(c.size), big.NewInt(c.dur))
		want.Add(want, big.NewInt(c.size+c.size))
		if s.ByteMs.Cmp(want) != 0 {
			t.Errorf("size %d dur %d: %s, want %s", c.size, c.dur, s.ByteMs, want)
		}
	}
}
