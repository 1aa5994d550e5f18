package archive

import (
	"context"
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
	logtest.WaitFor(t, "ten failed rounds", func() bool { return logs.Count(slog.LevelDebug) >= 10 })
	if got := logs.Count(slog.LevelError); got != 1 {
		t.Fatalf("%d error records over %d failed rounds, want 1: %q", got, logs.Count(slog.LevelDebug)+1, logs.Messages())
	}
	if n, err := a.Pending(ctx); n != 1 || err != nil {
		t.Fatalf("Pending while storage is down = %d, %v; want 1", n, err)
	}

	blobs.down.Store(false)
	logtest.WaitFor(t, "the message moved", func() bool { n, err := a.Pending(ctx); return err == nil && n == 0 })
	logtest.WaitFor(t, "the recovery logged", func() bool { return logs.Count(slog.LevelInfo) == 1 })
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
