// Package archive keeps every agent message w3dag receives or sends, exactly as it went over
// the wire, in blob storage (DESIGN §6). The state of the service can be rebuilt from these
// messages alone.
//
// Key layout (the names of the invocation stream's buckets, seed 000, as prefixes):
//
//	segment/<seg>                        blob: a CAR v1 of many messages, each a block under
//	                                     its message CID; <seg> is the CIDv1 (codec car) of
//	                                     the segment's bytes
//	archive/workflow/<msg>               kv: where message <msg> is in a segment (uvarint
//	                                     offset, uvarint length, segment CID bytes)
//	workflow/<msg>/<msg>                 blob: the bytes of a message kept in a file of its
//	                                     own (no outbox, larger than a kv value, or archived
//	                                     before segments); <msg> is the CIDv1 of the bytes,
//	                                     codec car (0x0202) for CAR messages, raw (0x55) for
//	                                     other bodies such as UCAN containers
//	invocation/<inv>/<msg>.in            an invocation arrived in request message <msg>
//	invocation/<inv>/<msg>.out           its receipt left in reply message <msg>
//	task/<task>/<inv>.invocation         invocation <inv> asked for task <task>
//	task/<task>/<task>.result            the outcome of task <task>
//	schema/<cid>                         blob: a schema source the service ran with,
//	                                     <cid> the CIDv1 (raw, sha2-256) of its text
//	schema/set/<after>.json              blob: the sources (names, CIDs, in load order) a
//	                                     service started with after commit sequence
//	                                     <after> (20 digits); PutSchemas, SchemaSets
//
// The archive writes the workflow objects. The index entries (.in, .out, .invocation,
// .result) live in kv under these names, written by the dag engine: .in, .invocation and
// .result in the transaction of the operation (dag.WithMessage), .out once the reply is
// archived (dag.Engine.RecordReply), or with it (Stage). The key functions here spell the
// names for readers of the archive.
//
// Outbox: writing each message to blob storage with its own fsync costs several
// milliseconds, more than the operations it carries. With Options.Outbox set, Put instead
// writes the message into a kv store, group-committing concurrent Puts into one durable
// transaction (one fsync for many messages), and Run moves each round of messages from
// that outbox into one segment in the background, indexing them and deleting their outbox
// rows in one kv transaction. A round takes the messages this process put by their keys
// (point reads; it remembers up to MaxBacklog of them; with Options.OwnOutbox it keeps
// the bytes of those Put committed, up to 16 MiB, and moves them without reading them
// back, except those a round may have moved while their Put ran, a message put twice or
// one a scan found first: their rows are read back; a message is hinted once at a time),
// and each drain ends with a scan of
// the outbox for the rest (other processes' messages, those left by a crash), as does at
// least one round in 64 while hints are left, so that under sustained load the rest are
// not left behind: scanning every round would step over every deletion earlier rounds
// left, until the store compacts them away. A message is durable before Put returns either way,
// so the rule "archived before anything in it runs" holds; Get and Has see messages
// wherever they are, and a crash leaves the outbox to be moved by the next Run.
//
// The service's own invocations: ArchiveInvocation writes the message that carries one
// self-issued invocation (InvocationMessage) into the outbox through the caller's kv
// transaction, the dag engine's (dag.Options.Archive), so it is durable exactly when what
// the invocation causes is; ArchiveReply does the same for the reply carrying the receipt
// of an operation the service ran with its own invocation. It needs an outbox; Options.Direct keeps Put writing blob
// storage directly while the outbox takes these messages.
//
// Staged messages: with Options.Commit (the outbox is in the caller's store, written
// through its group commit), Stage hands the caller the write of a message to make in a
// transaction of its own — the server's request of one write invocation, written first in
// the engine's transaction that runs it (dag.WithPreWrite), and its reply, written with
// its .out index — and a committed func that gives Run the message's hint once that
// transaction has committed. A transaction that does not commit leaves nothing; the
// caller then Puts the message.
//
// Refusals: a message every invocation of which was refused before running is not kept;
// PutRefusal records its CID, size, invocation count, sender and refusal names instead
// (outbox/refused/<msg> in kv, or refused/<msg> in blob storage without an outbox), and
// Refused reads the record. Options.Commit's view must cover KVPrefix.
//
// This package imports blob, internal/failrun, kv and message, nothing else of w3dag's.
package archive
