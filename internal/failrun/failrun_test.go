package failrun_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/w3dag/w3dag/internal/failrun"
	"github.com/w3dag/w3dag/internal/logtest"
)

// TestRepeat: a run of failures is logged at error level at its start and again every
// Repeat, at debug level in between; a success ends the run (at info level, once), and the
// next failure is logged at once.
func TestRepeat(t *testing.T) {
	ctx := context.Background()
	logs := &logtest.Counter{}
	log := slog.New(logs)
	f := failrun.Log{What: "doing the work"}
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	fail := errors.New("down")
	steps := []struct {
		at        time.Duration
		ok        bool
		wantError int // error records so far
		wantInfo  int
	}{
		{0, true, 0, 0}, // a success without failures before says nothing
		{0, false, 1, 0},
		{time.Second, false, 1, 0},
		{failrun.Repeat - time.Millisecond, false, 1, 0},
		{failrun.Repeat, false, 2, 0},
		{failrun.Repeat + time.Second, false, 2, 0},
		{2 * failrun.Repeat, false, 3, 0},
		{2*failrun.Repeat + time.Second, true, 3, 1},
		{2*failrun.Repeat + 2*time.Second, true, 3, 1},
		{2*failrun.Repeat + 3*time.Second, false, 4, 1},
	}
	for i, s := range steps {
		if s.ok {
			f.Succeeded(ctx, log, t0.Add(s.at))
		} else {
			f.Failed(ctx, log, fail, t0.Add(s.at))
		}
		if got := logs.Count(slog.LevelError); got != s.wantError {
			t.Fatalf("step %d (%s): %d error records, want %d: %q", i, s.at, got, s.wantError, logs.Messages())
		}
		if got := logs.Count(slog.LevelInfo); got != s.wantInfo {
			t.Fatalf("step %d (%s): %d info records, want %d: %q", i, s.at, got, s.wantInfo, logs.Messages())
		}
	}
	if got := logs.Count(slog.LevelDebug); got != 3 {
		t.Errorf("%d debug records, want 3 (the failures between reminders)", got)
	}
	want := []string{
		"ERROR: doing the work", "DEBUG: doing the work", "DEBUG: doing the work",
		"ERROR: doing the work still fails", "DEBUG: doing the work", "ERROR: doing the work still fails",
		"INFO: doing the work works again", "ERROR: doing the work",
	}
	if got := logs.Messages(); len(got) != len(want) {
		t.Fatalf("records %q, want %q", got, want)
	} else {
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("record %d: %q, want %q", i, got[i], want[i])
			}
		}
	}
}

// A loop that retries its work every second logs a failure that lasts once, then once a
// minute, then its recovery.
func ExampleLog() {
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // no clock in the example's output
			}
			return a
		},
	}))
	f := failrun.Log{What: "exporting logs"}
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for s := range 90 {
		f.Failed(context.Background(), log, errors.New("connection refused"), start.Add(time.Duration(s)*time.Second))
	}
	f.Succeeded(context.Background(), log, start.Add(90*time.Second))
	// Output:
	// level=ERROR msg="exporting logs" error="connection refused"
	// level=ERROR msg="exporting logs still fails" error="connection refused" failing_for=1m0s attempts=61
	// level=INFO msg="exporting logs works again" failed_for=1m30s attempts=90
}
