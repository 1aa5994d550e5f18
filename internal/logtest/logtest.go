package logtest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// Counter is a slog.Handler that counts the records of each level and keeps their level and
// message. Every level is enabled. The zero value is ready to use; it is safe for
// concurrent use.
type Counter struct {
	mu   sync.Mutex
	n    map[slog.Level]int
	msgs []string
}

// Enabled reports true for every level.
func (c *Counter) Enabled(context.Context, slog.Level) bool { return true }

// WithAttrs returns c: attributes are not kept.
func (c *Counter) WithAttrs([]slog.Attr) slog.Handler { return c }

// WithGroup returns c: groups are not kept.
func (c *Counter) WithGroup(string) slog.Handler { return c }

// Handle counts r.
func (c *Counter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[slog.Level]int{}
	}
	c.n[r.Level]++
	c.msgs = append(c.msgs, r.Level.String()+": "+r.Message)
	return nil
}

// Count returns how many records of level l were handled.
func (c *Counter) Count(l slog.Level) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[l]
}

// Messages returns every record handled so far, as "LEVEL: message", oldest first.
func (c *Counter) Messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

// WaitTimeout is how long WaitFor waits before it fails the test.
const WaitTimeout = 10 * time.Second

// WaitFor waits until cond holds, polling it every 2 ms, and fails tb, naming what, if it
// does not within WaitTimeout: for tests of a component that logs (and does the rest of
// its work) from a goroutine of its own.
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
