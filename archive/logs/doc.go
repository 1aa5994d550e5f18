// Package logs exports the commit log as partitioned JSON logs for analytics (DESIGN §6):
// Athena- or DuckDB-style tables over plain files in blob storage, one JSON object a line.
//
// The Exporter follows the commit log (dag.Engine.Log) and writes
//
//	logs/<workflow|receipt>/<collection>-<op>/<YYYY-MM-DD>/<first-seq>-<last-seq>.jsonl
//
// A receipt line is written for every commit-log record (every new entry head); a workflow
// line for every invocation, once, with the first commit-log record whose receipt ran it.
// <collection> is the collection of the path the line is about, <op> the last segment of
// the invocation's command (put, remove, record, compute, …), the day is the receipt's
// meta.ts in UTC, and the sequences are the first and last commit sequence of the lines in
// the file, zero-padded to SeqDigits digits so that names sort in commit order. The record
// shape is documented in docs/logs.md (Workflow and Receipt here).
//
// Idempotent and resumable: the exporter works in chunks of the log. Before writing a
// chunk's files it records the chunk's end in kv (logs/pending) and the message each of
// its invocations is named with (logs/messages); after every file is durable it moves
// its position (logs/position) to that end, in one transaction with the invocations the
// chunk gave workflow lines (logs/ran/<invocation CID>, holding the message). A crash
// between the two leaves logs/pending, and the next run exports exactly that chunk again:
// the same files, byte for byte, since every line is derived from immutable receipts and
// invocations and the messages recorded for the chunk. A run with nothing new in the log
// writes nothing. Two exporters over the
// same store (several serve processes) write the same chunks: the pending end is taken
// from kv, and moving the position checks it did not move meanwhile.
//
// What it reads: the records of the commit log with their receipts and the invocations
// those ran, handed over from memory (their bytes) by the engine that
// committed them (dag.Engine.Records: the last dag.Options.WatchRing records, the blocks of
// the newest up to dag.Options.WatchRingBytes), with what the committing batch knew of
// each invocation (dag.Record.Fresh: whether the record is the first that ran it, and the
// message it came in). What a record lacks (after a restart, when the exporter is further
// behind than the ring, for ring records past WatchRingBytes, for records another process
// committed, or a receipt that ran an invocation of an earlier transaction) is read from
// kv: the blocks in one read-only transaction of the engine per chunk, the logs/ran marker
// (which holds the message of an invocation exported in an earlier chunk) or the
// invocation/<inv>/ index in one of the store. The lines are the same either way; an
// invocation's message is fixed at its first export (docs/logs.md, "Which message"). A
// chunk's files are written in one
// blob.Batcher batch when the store has them.
//
// How it reads them: the fields a line needs are read straight from the blocks' DAG-CBOR
// bytes (raw.go, on cbor.ReadHead), and a receipt's out and an invocation's args are
// transcoded to DAG-JSON from those bytes, with no go-ipld-prime node built; the reader
// checks what it reads as ucan.Decode and receipts.Parse do, and refuses the rest with
// ErrCorrupt (a *ReadError inside). Only a value holding a float is encoded through
// ucan.Decode and message.EncodeDAGJSON, which write floats as the lines always had.
//
// Package logs imports archive (the index key names), blob, cbor (the head reader), dag,
// internal/cidtext (CIDs spelt as text), internal/failrun (logging a failure that lasts once a minute), kv, message, receipts and ucan; it must not import server, ops, machines or cmd
// (TestImports).
package logs
