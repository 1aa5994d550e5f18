// Package logtest is a slog.Handler for tests that check what a component logs: Counter
// counts the records of each level and keeps their messages.
//
// Only tests import it. It imports only the standard library, nothing of w3dag's.
package logtest
