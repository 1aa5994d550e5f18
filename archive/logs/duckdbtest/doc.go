// Package duckdbtest checks the JSON logs of package logs with DuckDB, the way an analyst
// reads them: the query of docs/logs.md (bytes stored per space per day) must give the
// numbers of usage.Report, the computation behind `w3dag usage`, and the files must hold
// the commit log record by record.
//
// It is a module of its own because DuckDB's Go binding (github.com/duckdb/duckdb-go/v2)
// needs cgo and a prebuilt DuckDB library: the main module stays free of both. .ci/run
// runs it (`cd archive/logs/duckdbtest && go test ./...`); it uses the main module from
// this work tree (replace ../../..).
package duckdbtest
