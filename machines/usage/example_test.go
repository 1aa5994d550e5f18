package usage_test

import (
	"fmt"
	"time"

	"github.com/w3dag/w3dag/machines/usage"
)

// Compute turns usage records into a report over a window: a 100-byte CAR stored at
// t=0 s and removed at t=30 s, with 50 more bytes from t=10 s, over [0 s, 60 s).
func ExampleCompute() {
	evs := []usage.Event{
		{TS: 0, Delta: 100, Seq: 1},
		{TS: 10_000, Delta: 50, Seq: 2},
		{TS: 30_000, Delta: -100, Seq: 3},
	}
	s, err := usage.Compute(evs, time.UnixMilli(0), time.UnixMilli(60_000))
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Initial, s.Final, s.ByteMs, len(s.Events))
	// Output: 0 50 5500000 3
}
