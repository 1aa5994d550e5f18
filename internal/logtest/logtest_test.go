package logtest_test

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/w3dag/w3dag/internal/logtest"
)

func TestCounter(t *testing.T) {
	var c logtest.Counter
	log := slog.New(&c).With("component", "x").WithGroup("g")
	log.Error("one")
	log.Debug("two")
	log.Debug("three")
	if c.Count(slog.LevelError) != 1 || c.Count(slog.LevelDebug) != 2 || c.Count(slog.LevelInfo) != 0 {
		t.Errorf("counts: error %d, debug %d, info %d; want 1, 2, 0", c.Count(slog.LevelError), c.Count(slog.LevelDebug), c.Count(slog.LevelInfo))
	}
	if got, want := fmt.Sprint(c.Messages()), "[ERROR: one DEBUG: two DEBUG: three]"; got != want {
		t.Errorf("Messages() = %s, want %s", got, want)
	}
}

func TestWaitFor(t *testing.T) {
	var done atomic.Bool
	go func() {
		time.Sleep(20 * time.Millisecond)
		done.Store(true)
	}()
	start := time.Now()
	logtest.WaitFor(t, "the flag", done.Load)
	if !done.Load() || time.Since(start) > logtest.WaitTimeout {
		t.Fatalf("WaitFor returned after %s with the flag %v", time.Since(start), done.Load())
	}
}
