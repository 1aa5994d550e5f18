// Package postgrestest holds test helpers for code that runs on kv/postgres.
//
// RoundTrips, given as postgres.Options.Tracer, counts the round trips a store makes to
// the server, so that a test can bound them (a group commit costs a fixed number of
// round trips whatever its size).
//
// This package imports only pgx and the standard library; nothing of w3dag's (kv/postgres's
// own tests use it).
package postgrestest
