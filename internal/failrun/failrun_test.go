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
// Repeat, at debug level in between; a success ends the run (at info level, once). A run
// that starts within Repeat of the last error record (a flapping loop) is logged at debug
// level, its end too; the first failure a Repeat after that record is an error again.
func TestRepeat(t *testing.T) {
	ctx := context.Background()
	logs := &logtest.Counter{}
	log := slog.New(logs)
	f := failrun.Log{What: "doing the work"}
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	fail := errors.New("down")
	const r = failrun.Repeat
	steps := []struct {
		at   time.Duration
		ok   bool
		want string // the record it makes, "" for none
	}{
		{0, true, ""}, // a success without failures before says nothing
		{0, false, "ERROR: doing the work"},
		{time.Second, false, "DEBUG: doing the work"},
		{r - time.Millisecond, false, "DEBUG: doing the work"},
		{r, false, "ERROR: doing the work still fails"},
		{r + time.Second, false, "DEBUG: doing the work"},
		{2 * r, false, "ERROR: doing the work still fails"},
		{2*r + time.Second, true, "INFO: doing the work works again"},
		{2*r + 2*time.Second, true, ""},
		// Flapping: failures and successes within a Repeat of the last error record.
		{2*r + 3*time.Second, false, "DEBUG: doing the work"},
		{2*r + 4*time.Second, true, "DEBUG: doing the work works again"},
		{2*r + 5*time.Second, false, "DEBUG: doing the work"},
		{3*r - time.Second, true, "DEBUG: doing the work works again"},
		// A Repeat after the last error record, a new run is an error again.
		{3 * r, false, "ERROR: doing the work"},
		{3*r + time.Second, true, "INFO: doing the work works again"},
	}
	for i, s := range steps {
		before := len(logs.Messages())
		if s.ok {
			f.Succeeded(ctx, log, t0.Add(s.at))
		} else {
			f.Failed(ctx, log, fail, t0.Add(s.at))
		}
		got := logs.Messages()[before:]
		switch {
		case s.want == "" && len(got) != 0:
			t.Fatalf("step %d (%s): records %q, want none", i, s.at, got)
		case s.want != "" && (len(got) != 1 || got[0] != s.want):
			t.Fatalf("step %d (%s): records %q, want %q", i, s.at, got, s.want)
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
