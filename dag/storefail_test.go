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

// TestFailedStoreLogsOnce: once the store has failed (kv.ErrFailed), every batch fails,
// and only the first failure is logged at error level (the rest at debug level); other
// commit failures are each logged at error level.
func TestFailedStoreLogsOnce(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		wantErrors int
	}{
		{"store failed", fmt.Errorf("test: disk gone: %w", kv.ErrFailed), 1},
		{"other failure", errors.New("test: commit refused"), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &failingKV{Store: mem.New()}
			logs := &logtest.Counter{}
			v := newEnv(t, st, func(o *dag.Options) { o.Logger = slog.New(logs) })
			v.put(v.path("notes/before"), note("x"))
			st.fail.Store(&tc.err)
			for i := range 3 {
				err := <-pipelinedPut(v, v.path(fmt.Sprintf("notes/after%d", i)))
				if !errors.Is(err, tc.err) {
					t.Fatalf("put %d after the failure: %v, want %v", i, err, tc.err)
				}
			}
			if got := logs.Count(slog.LevelError); got != tc.wantErrors {
				t.Errorf("%d records at error level, want %d", got, tc.wantErrors)
			}
			if got, want := logs.Count(slog.LevelDebug), 3-tc.wantErrors; got < want {
				t.Errorf("%d records at debug level, want at least %d", got, want)
			}
		})
	}
}
