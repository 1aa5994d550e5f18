package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestReplayProgressLines: without a bar, a replay prints a line every replayProgressEvery
// (none before), with the rate and time left of this run: a resumed replay counts the
// steps an earlier run did as done, not in its rate.
func TestReplayProgressLines(t *testing.T) {
	for _, tc := range []struct {
		name  string
		from  int // the first step of this run
		steps int // steps this run does, one each 100 ms (the one done at 30 s is the 301st)
		want  []string
	}{
		{"short", 0, 200, nil},
		{"fresh", 0, 700, []string{
			"w3dag replay: 301 of 1000 invocations (30 %), 10/s, about 1m10s left",
			"w3dag replay: 601 of 1000 invocations (60 %), 10/s, about 40s left",
		}},
		{"resumed", 500, 400, []string{
			"w3dag replay: 801 of 1000 invocations (80 %), 10/s, about 20s left",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
			p := newReplayProgress(&out, 1000, false, func() time.Time { return now })
			for i := tc.from; i < tc.from+tc.steps; i++ {
				p.step(i)
				now = now.Add(100 * time.Millisecond)
			}
			p.finish()
			got := strings.Split(strings.TrimSpace(out.String()), "\n")
			if out.Len() == 0 {
				got = nil
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestReplayProgressOutOfOrder: a step accounted for after later ones (a paced step) does
// not move the count back.
func TestReplayProgressOutOfOrder(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	p := newReplayProgress(&bytes.Buffer{}, 10, false, func() time.Time { return now })
	for _, i := range []int{0, 1, 3, 2, 4} {
		p.step(i)
	}
	if p.done != 5 {
		t.Errorf("done = %d after steps 0–4 out of order, want 5", p.done)
	}
}
