package archive

import (
	"context"
	"log/slog"
	"time"
)

// moveErrorRepeat is how often Run logs again, at error level, that moving messages to
// blob storage still fails. The first failed round of a run of them is logged at once and
// the failed rounds in between at debug level, so a blob store (or kv store) that stays
// down is reported without a record at every wake of the mover (each commit, each
// MovePoll).
const moveErrorRepeat = time.Minute

// moveFailures is what Run remembers of its failed rounds for logging them. The zero value
// is a mover whose last round succeeded. It is used by Run's goroutine only.
type moveFailures struct {
	since    time.Time // the first failed round of the current run of them; zero: none
	attempts int       // failed rounds since then
	logged   time.Time // when a failure was last logged at error level
}

// failed logs the failed round err, ended at now.
func (f *moveFailures) failed(ctx context.Context, log *slog.Logger, err error, now time.Time) {
	f.attempts++
	switch {
	case f.since.IsZero():
		f.since, f.logged = now, now
		log.ErrorContext(ctx, "moving archived messages to blob storage", "error", err)
	case now.Sub(f.logged) >= moveErrorRepeat:
		f.logged = now
		log.ErrorContext(ctx, "moving archived messages to blob storage still fails", "error", err,
			"failing_for", now.Sub(f.since).Round(time.Second), "attempts", f.attempts)
	default:
		log.DebugContext(ctx, "moving archived messages to blob storage", "error", err, "attempts", f.attempts)
	}
}

// succeeded notes a round that did not fail, ended at now, and says so at info level when
// the rounds before it had failed.
func (f *moveFailures) succeeded(ctx context.Context, log *slog.Logger, now time.Time) {
	if f.since.IsZero() {
		return
	}
	log.InfoContext(ctx, "moving archived messages to blob storage works again",
		"failed_for", now.Sub(f.since).Round(time.Millisecond), "attempts", f.attempts)
	*f = moveFailures{}
}
