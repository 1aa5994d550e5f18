package failrun

import (
	"context"
	"log/slog"
	"time"
)

// Repeat is how often a Log says again, at error level, that its work still fails.
const Repeat = time.Minute

// Log is what a retrying loop remembers of its failures for logging them. The zero value,
// with What set, is a loop whose last attempt succeeded. It is for one goroutine: the
// loop's.
//
// At most one record a Repeat is at error level, so a loop that flaps (a failure, then a
// success, then a failure again, as a nearly full disk gives) is reported once a Repeat
// too, not at every flap: a run of failures that starts within Repeat of the last error
// record is logged at debug level, and so is its end.
type Log struct {
	// What names the work in the records: "moving archived messages to blob storage"
	// gives that, "… still fails" and "… works again".
	What string

	since    time.Time // the first failure of the current run of them; zero: none
	attempts int       // failures since then
	logged   time.Time // when a failure was last logged at error level (kept across runs)
	reported bool      // the current run was logged at error level
}

// Failed logs err, an attempt that failed at now, with args (slog's key-value pairs) added
// to the record.
func (l *Log) Failed(ctx context.Context, log *slog.Logger, err error, now time.Time, args ...any) {
	l.attempts++
	due := l.logged.IsZero() || now.Sub(l.logged) >= Repeat
	switch {
	case l.since.IsZero() && due:
		l.since, l.logged, l.reported = now, now, true
		log.ErrorContext(ctx, l.What, append([]any{"error", err}, args...)...)
	case l.since.IsZero():
		l.since = now
		log.DebugContext(ctx, l.What, append([]any{"error", err, "attempts", l.attempts}, args...)...)
	case due:
		l.logged, l.reported = now, true
		log.ErrorContext(ctx, l.What+" still fails", append([]any{"error", err,
			"failing_for", now.Sub(l.since).Round(time.Second), "attempts", l.attempts}, args...)...)
	default:
		log.DebugContext(ctx, l.What, append([]any{"error", err, "attempts", l.attempts}, args...)...)
	}
}

// Succeeded notes an attempt that did not fail, at now, and says so, at info level when
// the run of failures before it was logged at error level (at debug level otherwise).
func (l *Log) Succeeded(ctx context.Context, log *slog.Logger, now time.Time) {
	if l.since.IsZero() {
		return
	}
	level := slog.LevelDebug
	if l.reported {
		level = slog.LevelInfo
	}
	log.Log(ctx, level, l.What+" works again",
		"failed_for", now.Sub(l.since).Round(time.Millisecond), "attempts", l.attempts)
	l.since, l.attempts, l.reported = time.Time{}, 0, false
}
