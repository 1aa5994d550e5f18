// Package logtest is a slog.Handler for tests that check what a component logs: Counter
// counts the records of each level and keeps their messages; WaitFor waits for what the
// component does from a goroutine of its own.
//
// Only tests import it. It imports only the standard library, nothing of w3dag's.
package logtest
