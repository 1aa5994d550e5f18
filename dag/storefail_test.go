package dag_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/internal/logtest"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
)

// failingKV is a kv/mem store whose Updates fail with fail once it is set.
type failingKV struct {
	*mem.Store
	fail atomic.Pointer[error]
}

func (f *failingKV) Update(ctx context.Context, fn func(kv.Tx) error) error {
	if p := f.fail.Load(); p != nil {
		return *p
	}
	return f.Store.Update(ctx, fn)
}

// TestFailedStoreLogsOnce: while commits fail, every batch fails and only the first
// failure is logged at error level (the rest at debug level, a reminder a minute:
// failrun), and the first commit that succeeds after them says so at info level. A
// failed store (kv.ErrFailed) makes Engine.Failed return it; other failures do not.
func TestFailedStoreLogsOnce(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		wantErrors int
		failed     bool
	}{
		{"store failed", fmt.Errorf("test: disk gone: %w", kv.ErrFailed), 1, true},
		{"other failure", errors.New("test: PostgreSQL unreachable"), 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &failingKV{Store: mem.New()}
			logs := &logtest.Counter{}
			v := newEnv(t, st, func(o *dag.Options) { o.Logger = slog.New(logs) })
			v.put(v.path("notes/before"), note("x"))
			st.fail.Store(&tc.err)
			for i := range 3 {
				err := <-pipelinedPut(v, v.path(fmt.Sprintf("notes/after%d", i)))
				if !errors.Is(err, tc.err) || !errors.Is(err, dag.ErrCommit) {
					t.Fatalf("put %d after the failure: %v, want %v and dag.ErrCommit", i, err, tc.err)
				}
				if got := dag.LogLevel(err); got != slog.LevelDebug {
					t.Errorf("LogLevel of a failed commit's error: %v, want debug (the committer logged it)", got)
				}
			}
			if got := logs.Count(slog.LevelError); got != tc.wantErrors {
				t.Errorf("%d records at error level, want %d", got, tc.wantErrors)
			}
			if got, want := logs.Count(slog.LevelDebug), 3-tc.wantErrors; got < want {
				t.Errorf("%d records at debug level, want at least %d", got, want)
			}
			if err := v.e.Failed(); tc.failed != errors.Is(err, tc.err) {
				t.Errorf("Failed() = %v, want the store's failure: %v", err, tc.failed)
			}
			st.fail.Store(nil)
			v.put(v.path("notes/recovered"), note("x"))
			if got := logs.Count(slog.LevelInfo); got != 1 {
				t.Errorf("%d records at info level after the store recovered, want 1: %q", got, logs.Messages())
			}
		})
	}
}

// saysFailedKV is a kv/mem store that says it has failed (as kv/pebble's Failed does once
// a commit of any of its users failed to reach the disk).
type saysFailedKV struct {
	*mem.Store
	failed atomic.Pointer[error]
}

func (s *saysFailedKV) Failed() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// TestFailedAsksTheStore: Engine.Failed reports a failure the store says it has before any
// commit of the engine's met it (another user of the store, such as the logs exporter,
// failed first).
func TestFailedAsksTheStore(t *testing.T) {
	st := &saysFailedKV{Store: mem.New()}
	v := newEnv(t, st)
	v.put(v.path("notes/before"), note("x"))
	if err := v.e.Failed(); err != nil {
		t.Fatalf("Failed of a working store: %v", err)
	}
	failure := fmt.Errorf("%w: test: a commit of another user failed", kv.ErrFailed)
	st.failed.Store(&failure)
	if err := v.e.Failed(); !errors.Is(err, failure) {
		t.Fatalf("Failed() = %v, want the store's %v", err, failure)
	}
}

func TestLogLevel(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want slog.Level
	}{
		{fmt.Errorf("%w: %w", dag.ErrCommit, errors.New("connection refused")), slog.LevelDebug},
		{fmt.Errorf("running: %w: %w: disk gone", dag.ErrCommit, kv.ErrFailed), slog.LevelDebug},
		{fmt.Errorf("%w: disk gone", kv.ErrFailed), slog.LevelError}, // not from a commit of the engine's
		{dag.ErrBusy, slog.LevelError},
		{errors.New("dag: commit failed"), slog.LevelError}, // the same text is not the same error
	} {
		if got := dag.LogLevel(tc.err); got != tc.want {
			t.Errorf("LogLevel(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
