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
type Log struct {
	// What names the work in the records: "moving archived messages to blob storage"
	// gives that, "… still fails" and "… works again".
	What string

	since    time.Time // the first failure of the current run of them; zero: none
	attempts int       // failures since then
	logged   time.Time // when a failure was last logged at error level
}

// Failed logs err, an attempt that failed at now, with args (slog's key-value pairs) added
// to the record.
func (l *Log) Failed(ctx context.Context, log *slog.Logger, err error, now time.Time, args ...any) {
	l.attempts++
	switch {
	case l.since.IsZero():
		l.since, l.logged = now, now
		log.ErrorContext(ctx, l.What, append([]any{"error", err}, args...)...)
	case now.Sub(l.logged) >= Repeat:
		l.logged = now
		log.ErrorContext(ctx, l.What+" still fails", append([]any{"error", err,
			"failing_for", now.Sub(l.since).Round(time.Second), "attempts", l.attempts}, args...)...)
	default:
		log.DebugContext(ctx, l.What, append([]any{"error", err, "attempts", l.attempts}, args...)...)
	}
}

// Succeeded notes an attempt that did not fail, at now, and says so at info level when
// the attempts before it had failed.
func (l *Log) Succeeded(ctx context.Context, log *slog.Logger, now time.Time) {
	if l.since.IsZero() {
		return
	}
	log.InfoContext(ctx, l.What+" works again",
		"failed_for", now.Sub(l.since).Round(time.Millisecond), "attempts", l.attempts)
	l.since, l.attempts, l.logged = time.Time{}, 0, time.Time{}
}
