// Package failrun logs the failures of a loop that retries on its own (the archive mover,
// the logs exporter, the task runner's poll): the first failure of a run of them at error
// level, a reminder at error level every Repeat while they go on (how long, how many
// attempts), the failures in between at debug level, and the end of the run at info level.
// A blob store, PostgreSQL or disk that stays down is then reported without a record at
// every retry of every loop, and its recovery is reported too.
//
// It imports only the standard library, nothing of w3dag's.
package failrun
