package main

// replayprogress.go: the progress of `w3dag replay` and `w3dag verify` on stderr.

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// replayProgressEvery is how often a replay whose stderr is not a terminal (and not
// --progress) prints a progress line; a replay shorter than this prints none.
const replayProgressEvery = 30 * time.Second

// replayProgress reports the steps of a replay on stderr: a bar on a terminal or with
// --progress, otherwise a line every replayProgressEvery. Its methods are called from one
// goroutine (replay.Run's OnStep, then finish).
type replayProgress struct {
	w     io.Writer
	total int
	bar   *progressbar.ProgressBar
	now   func() time.Time

	done        int       // steps done, those of an earlier run included
	first       int       // steps done when this run started (a resumed replay)
	start, last time.Time // when this run started; when a line was last printed
}

// newReplayProgress reports on w the progress of a replay of total steps, with a bar when
// bar is set.
func newReplayProgress(w io.Writer, total int, bar bool, now func() time.Time) *replayProgress {
	p := &replayProgress{w: w, total: total, now: now, first: -1}
	if bar {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(progressInterval),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("invocations"),
			progressbar.OptionFullWidth(),
			progressbar.OptionSetDescription("replaying"),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	return p
}

// step notes that step i (an index into the plan's steps) is done.
func (p *replayProgress) step(i int) {
	now := p.now()
	if p.first < 0 {
		// The first step of this run: those before it were done by an earlier run.
		p.first, p.done, p.start, p.last = i, i, now, now
		if p.bar != nil && i > 0 {
			_ = p.bar.Set(i)
		}
	}
	if i+1 <= p.done {
		return
	}
	n := i + 1 - p.done
	p.done = i + 1
	if p.bar != nil {
		_ = p.bar.Add(n)
		return
	}
	if now.Sub(p.last) >= replayProgressEvery {
		p.last = now
		fmt.Fprintln(p.w, p.line(now))
	}
}

// line is the progress line of the replay at now.
func (p *replayProgress) line(now time.Time) string {
	s := fmt.Sprintf("w3dag replay: %d of %d invocations (%d %%)", p.done, p.total, p.done*100/max(p.total, 1))
	took := now.Sub(p.start).Seconds()
	if ran := p.done - p.first; ran > 0 && took > 0 {
		rate := float64(ran) / took
		left := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
		s += fmt.Sprintf(", %.0f/s, about %s left", rate, left.Round(time.Second))
	}
	return s
}

// finish ends the bar (the replies are recorded next, in much less time).
func (p *replayProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
