package kv_test

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/w3dag/w3dag/kv"
)

func TestLogLevel(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want slog.Level
	}{
		{kv.ErrFailed, slog.LevelDebug},
		{fmt.Errorf("committing: %w: disk gone", kv.ErrFailed), slog.LevelDebug},
		{fmt.Errorf("committing: %w", kv.ErrConflict), slog.LevelError},
		{errors.New("kv: store failed"), slog.LevelError}, // the same text is not the same error
		{kv.ErrClosed, slog.LevelError},
	} {
		if got := kv.LogLevel(tc.err); got != tc.want {
			t.Errorf("LogLevel(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
