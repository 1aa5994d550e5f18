package archive

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/w3dag/w3dag/internal/logtest"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
)

// TestRunLogsFailuresOnce: while blob storage refuses writes, Run retries at every wake
// and logs the failure once at error level (the retries at debug level), keeps the messages
// in the outbox, and once storage works again moves them and says so once at info level.
func TestRunLogsFailuresOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	blobs := newFailing()
	logs := &logtest.Counter{}
	a := New(blobs, Options{Outbox: kvmem.New(), MovePoll: 5 * time.Millisecond, Logger: slog.New(logs)})
	defer a.Close()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	if _, err := a.Put(ctx, message.CodecCAR, []byte("waits for storage")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ten failed rounds", func() bool { return logs.Count(slog.LevelDebug) >= 10 })
	if got := logs.Count(slog.LevelError); got != 1 {
		t.Fatalf("%d error records over %d failed rounds, want 1: %q", got, logs.Count(slog.LevelDebug)+1, logs.Messages())
	}
	if n, err := a.Pending(ctx); n != 1 || err != nil {
		t.Fatalf("Pending while storage is down = %d, %v; want 1", n, err)
	}

	blobs.down.Store(false)
	waitFor(t, "the message moved", func() bool { n, err := a.Pending(ctx); return err == nil && n == 0 })
	waitFor(t, "the recovery logged", func() bool { return logs.Count(slog.LevelInfo) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := logs.Count(slog.LevelError); got != 1 {
		t.Errorf("%d error records in all, want 1: %q", got, logs.Messages())
	}
	if got := logs.Count(slog.LevelInfo); got != 1 {
		t.Errorf("%d info records, want 1 (the recovery): %q", got, logs.Messages())
	}
}

// TestMoveFailuresRepeat: a run of failures is logged at error level at its start and again
// every moveErrorRepeat, at debug level in between; a success ends the run, and the next
// failure is logged at once.
func TestMoveFailuresRepeat(t *testing.T) {
	ctx := context.Background()
	logs := &logtest.Counter{}
	log := slog.New(logs)
	var f moveFailures
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	fail := errors.New("down")
	steps := []struct {
		at        time.Duration
		ok        bool
		wantError int // error records so far
		wantInfo  int
	}{
		{0, false, 1, 0},
		{time.Second, false, 1, 0},
		{moveErrorRepeat - time.Millisecond, false, 1, 0},
		{moveErrorRepeat, false, 2, 0},
		{moveErrorRepeat + time.Second, false, 2, 0},
		{2 * moveErrorRepeat, false, 3, 0},
		{2*moveErrorRepeat + time.Second, true, 3, 1},
		{2*moveErrorRepeat + 2*time.Second, true, 3, 1},
		{2*moveErrorRepeat + 3*time.Second, false, 4, 1},
	}
	for i, s := range steps {
		if s.ok {
			f.succeeded(ctx, log, t0.Add(s.at))
		} else {
			f.failed(ctx, log, fail, t0.Add(s.at))
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
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
