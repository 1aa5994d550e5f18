// Package dag is the engine of w3dag: paths, entries, the state machines' interface, and
// the four operations (put, get, remove, select) run as transactions over kv, with a
// commit log and in-process watchers.
//
// # Paths and entries
//
// A path is /<subject DID>/<collection>/<key>[/<field>…] (ParsePath, ParseRelative: the
// grammar of package collection). The subject is a space (a did:key) or the service's own
// DID; the collection must exist for that kind of subject in the schema, and its key must
// follow the collection's key rule (Engine.Canonical checks and normalises it).
//
// # Collections
//
// The engine knows no collection by name. Each is described by one dag.Collection: a
// collection.Spec (name, subjects, key rule, key field, writers, entry type) and its
// Machine, exported by the machine's package and registered in Options.Collections (the
// service's list is machines.Builtin). Open checks every registration against the schema.
// The schema's other collections exist too: schema-only ones (an extension's plain input
// type) run RecordMachine, other built-in ones have no machine. An entry's value is its head receipt, a receipt
// signed by the service whose out.ok is the entry's state and whose origin links the
// previous head, so every path has a verifiable chain (receipts.Walk, Engine.Chain).
//
// # Rules (DESIGN §2)
//
// Put validates the value against the collection's input type. With no entry, or one
// whose status is failed, expired or removed, the collection's Machine starts a new
// state (the entry moves to the end of the collection's order). The same value (same
// DAG-CBOR CID) on a live entry calls Machine.Same, which may advance the state (a new
// receipt) or not (the head receipt is returned). A different value calls
// Machine.Update, which returns the new state or ErrEntryExists. Remove calls
// Machine.Remove (a tombstone keeping the chain); removing a missing entry is
// ErrNotFound, removing a removed entry returns its head. Writes to collections the
// schema marks system-written are refused unless the invocation's issuer is the service.
//
// Every operation is decided on its UCAN task (CID of {sub, cmd, args, nonce}): a task
// that already has a result gets the stored receipt (Result.Repeat) without running.
// Business failures are error receipts, stored as blocks and recorded as the task's
// result but changing no entry and taking no commit sequence (their meta.seq is the last
// sequence committed when they were issued). Get and Select receipts are issued but not
// stored: reads write nothing. A Get receipt's out.ok is {path, head, value}; a Select
// receipt's is {page: &Page, count, cursor?}, the page block (returned in Result.Blocks)
// holding {entries: [{key, head, state}]}, because receipts are UCAN tokens of at most
// ucan.MaxTokenSize bytes.
//
// # Key layout in kv
//
//	block/<CID bytes>                        receipt and invocation blocks (raw bytes)
//	entry/<subject>/<collection>/<key>       entry record: seq, order, head, value CID,
//	                                         status, state (DAG-CBOR)
//	order/<subject>/<collection>/<order BE8> "<status>\x00<key>": the collection in
//	                                         insertion order (order = the seq at which the
//	                                         entry was started)
//	log/<seq BE8>                            commit log: receipt CID + absolute path;
//	                                         sequences start at 1 and have no gaps
//	spacelog/<subject>/<seq BE8>             the same record, per subject (path relative
//	                                         to the subject; older records: absolute): a watcher of
//	                                         one space replays only its own history
//	meta/seq                                 last assigned sequence (BE8)
//	meta/service                             DID of the service the store belongs to
//	                                         (written by the first Open; ErrWrongService)
//	meta/spacelog-from                       last seq committed before the store had a
//	                                         space log (BE8); older records: log/ only
//	task/<task>/<task>.result                CID bytes of the task's result receipt
//	task/<task>/<inv>.invocation             invocations seen for the task
//	invocation/<inv>/<msg>.in|.out           agent messages an invocation came in / was
//	                                         answered in (WithMessage, RecordReply), or
//	                                         the service's own invocation was archived in
//	                                         (.in) and its reply (.out), Options.Archive
//	counter/<name>                           kv counters (Tx.Add)
//
// CIDs in task/ and invocation/ keys are in their canonical string form.
//
// Machines and other packages that share the engine's transactions keep their own keys
// under prefixes of their own, through the view Tx.KV(prefix), which refuses the engine's
// prefixes above and every key outside its own:
//
//	storepending/<CAR CID>/<space>           store: pending uploads (size, URL expiry)
//	taskq/<run at ms BE8><task CID bytes>    task: the due index of the task runner
//	usage/counted/<space>/<blob CID>         usage: bytes counted for a blob in a space
//	outbox/workflow/<message CID bytes>      archive: agent messages waiting to be moved
//	                                         to blob storage (written in the engine's
//	                                         group commit by cmd/w3dag's wiring)
//	outbox/refused/<message CID bytes>       archive: the small record kept instead of a
//	                                         message whose every invocation was refused
//	archive/workflow/<message CID>           archive: where a moved message is in its
//	                                         segment (written by the archive's mover)
//	teststore/size/<space>/<key>             machinestest: the store stand-in's sizes
//	aggregate/seq, aggregate/open/<key>,     aggregate: the last aggregate number, the
//	aggregate/member/<key>/<i BE4>,          ingesting aggregates' layouts, each member's
//	aggregate/piece/<CAR CID>,               CAR, each aggregated CAR's aggregate, the
//	aggregate/cid/<aggregate piece CID>      key of each ready aggregate's piece CID
//	pieceindex/<piece v2 CID>                piece: the CAR CID (bytes) ‖ the CAR's md5 of
//	                                         each computed piece (GET /piece/{cid}, offers)
//	blockindex/mh/<multihash><CAR CID>,      blockindex: where each block of each stored
//	blockindex/car/<CAR CID><i BE4>,         CAR lives (offset, length), the CAR's
//	blockindex/refs/<CAR CID>                blocks in order, its done store entries
//	logs/position, logs/pending,             logs (archive/logs, the JSON log exporter, through
//	logs/messages,                           kv.Store): the last sequence exported, the end of
//	logs/ran/<invocation CID bytes>          the chunk being written and the messages its lines
//	                                         name, the invocations that have their workflow
//	                                         line (with their message)
//
// A new prefix is added to this list (machines' TestPrefixesDocumented checks it).
//
// # Transactions and group commit
//
// Each write operation is one function run inside one kv transaction: dedup, machine
// hooks, receipts (signed inside the transaction, because they carry the commit
// sequence), entry, order index and commit log. Work that does not depend on the
// current state (path and collection checks, schema validation, the value's CID, the
// task CID, Preparer.Prepare) is done before, in the caller's goroutine, in parallel.
// Inside a batch, the operations' receipts are encoded and signed in parallel: as soon
// as an operation has decided its receipt (sequence, origin, state), signing workers (one
// per core) take it while the committer runs the next operations. The receipts are
// needed when a later read in the batch needs them (the same entry, the same task,
// Tx.KV, a system write) or when the batch ends: the committer then signs those no worker
// has taken, waits for the rest, and the writes that need their CIDs (block, entry
// record, log record, task result) follow in order. Workers end with the attempt.
//
// One committer goroutine coalesces concurrent operations into one kv.Update (one
// fsync): it takes what is queued, up to MaxBatch, runs it, runs too what was queued
// meanwhile (up to MaxBatch: they share the fsync instead of waiting for it), and
// commits; operations arriving while it commits form the next batch. MaxBatchDelay can
// make it wait a little for fuller batches; without it, the committer waits at most
// GatherWait for operations still validating their input, except on a store that
// pipelines its commits. Operations in a batch run in arrival order and see each other's
// writes, so two identical tasks in one batch run once.
//
// On a store that pipelines its commits (kv.Pipeliner: kv/pebble) the committer does not
// wait for the fsync: it applies the batch (kv.Pipeliner.UpdateApplied; the next batch
// reads its writes) and hands it to a settler goroutine. The settler waits, in commit
// order, for each batch to be durable and only then counts it, publishes its records to
// watchers and Records, and answers its operations, while the committer runs the next
// batch (with at most SettleDepth batches awaiting durability). Operations the committer
// fails before a commit are answered through the settler too, after the batches applied
// before them. If a batch fails to become durable, its operations, those of every batch
// applied after it and every later one fail (the store has failed): nothing is
// acknowledged, read by a View or seen by a watcher that a crash could take back.
//
// On a store whose reads are round trips (kv.Prefetcher: kv/postgres) the committer first
// reads, in one request, the keys the batch's operations read first (each write
// operation's task result and entry, and the commit sequence); their Gets are then
// answered from the transaction, and a key an earlier operation of the batch wrote reads
// that write.
//
// If an operation fails with an internal error the batch is rolled back and retried
// without it (bbolt Batch style); if a machine fails with a business error after writing,
// the batch is retried with that operation recording only its failure. Operation
// functions therefore may run more than once and have no effects outside the
// transaction; the commit sequence, receipts and watcher events are derived inside it and
// published only after the commit.
//
// # Commit log and watchers
//
// Every new head receipt appends (seq, path, receipt) to the commit log. Watch streams
// events under a path prefix from any sequence: it reads the log, then follows commits
// through a bounded in-memory ring. The committer never waits for watchers; a watcher
// that falls behind the ring reads the log again. WatchPoll makes watchers also poll the
// log for commits of other processes sharing the store. The ring also keeps each record's
// receipt bytes and, when the transaction had it, the bytes of the invocation the receipt
// ran: Records hands them to readers that would otherwise read those blocks back from kv
// (the JSON log exporter, archive/logs); records outside the ring come from the log
// without them, and so do the ring's older records once its blocks pass WatchRingBytes
// (DefaultWatchRingBytes, 16 MiB: a record's blocks can be 128 KiB). Records also carry
// what the batch knew of the invocation (Record.Fresh: whether the record is the first
// that ran it, the message it came in, its task), so that the exporter reads nothing of
// kv for what was just committed.
//
// # Machines
//
// Collections with Go code register a Machine (and optionally Transitioner, Preparer, or
// Reader for entries named by their key and first fields, or computed when read);
// schema-only collections run RecordMachine. A Reader collection's entry is stored under
// its whole name (entry/<subject>/metrics/store/add-total) and listed by select with the
// key "store/add-total"; keys themselves never hold "/".
// Machines see a *Tx: read entries, write other paths with their own receipts (Tx.Put),
// add to counters (Tx.Add), store blocks, self-issue invocations, issue receipts and
// append log records, and keep keys of their own through Tx.KV(prefix). Tx.Effect lists
// an invocation the operation causes (a scheduled task) in the fx of the receipt the
// engine issues for the operation's state change (DESIGN §3); a Tx is made for each
// attempt of an operation, so a retried batch starts with no effects. Tx.SetResult records
// the receipt of a system write as the result of the self-issued invocation behind it, so
// an effect leads to its receipt (Engine.TaskResult); Tx.PutEffect does Put, SetResult
// and Effect at once for a self-issued invocation whose only work is a system write.
// Tx.Invoke derives its nonces from the commit sequence, the Tx's invocation and the
// call's rank (SelfNonce), and with
// Options.Archive archives each invocation in the transaction (Archiver). Tx.Batch keeps a
// value for the whole batch whose Finish runs once after the batch's operations, in the
// same transaction: work done once per commit rather than once per operation (metrics
// write each counter changed in a batch once, with one receipt). WithPreWrite gives an
// operation (or Engine.RecordReply) a caller's write to make first in every
// transaction that runs it (the server archives a single invocation's request message so,
// and a reply with its .out index).
//
// States and values are encoded with package cbor, the canonical DAG-CBOR writer ucan
// writes receipts with, so an entry's stored state bytes are the out.ok bytes of its head
// receipt (and the bytes the select page block splices in).
//
// Package dag imports collection, cbor, internal/cidtext (CIDs spelt in keys),
// internal/failrun (a run of failed commits logged once a minute), kv, schema, receipts and
// ucan; it must not import ops, server, machines or any kv backend, and names no
// collection (TestArchitecture).
package dag
