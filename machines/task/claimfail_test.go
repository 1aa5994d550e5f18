package task_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/w3dag/w3dag/internal/logtest"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/ucan"
)

// downKV is a kv/mem store whose Updates fail while down is set (PostgreSQL unreachable).
type downKV struct {
	*mem.Store
	down atomic.Bool
}

func (d *downKV) Update(ctx context.Context, fn func(kv.Tx) error) error {
	if d.down.Load() {
		return errors.New("test: connection refused")
	}
	return d.Store.Update(ctx, fn)
}

// TestRunLogsClaimFailuresOnce: while the store refuses writes, Run polls every
// PollInterval and logs the failure once at error level (the polls after it at debug
// level); once the store works again it runs the due task and says so once at info level.
func TestRunLogsClaimFailuresOnce(t *testing.T) {
	c := newClock()
	st := &downKV{Store: mem.New()}
	v := machinestest.Open(t, st, nil, nil, c.Now)
	due := schedule(t, v.E, task.Task{Cmd: "/test/quick"})
	rec := &logtest.Counter{}
	o := opts(c, "a")
	o.PollInterval = 2 * time.Millisecond
	o.Logger = slog.New(rec)
	r := task.NewRunner(v.E, map[string]task.Handler{
		"/test/quick": func(context.Context, *ucan.Token) error { return nil },
	}, o)
	st.down.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	logtest.WaitFor(t, "ten failed polls", func() bool { return rec.Count(slog.LevelDebug) >= 10 })
	if got := rec.Count(slog.LevelError); got != 1 {
		t.Fatalf("%d error records over %d failed polls, want 1: %q", got, rec.Count(slog.LevelDebug)+1, rec.Messages())
	}
	st.down.Store(false)
	logtest.WaitFor(t, "the due task done", func() bool { return state(t, v.E, due).Status == task.StatusDone })
	logtest.WaitFor(t, "the recovery logged", func() bool { return rec.Count(slog.LevelInfo) >= 1 })
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if got := rec.Count(slog.LevelError); got != 1 {
		t.Errorf("%d error records in all, want 1: %q", got, rec.Messages())
	}
}
