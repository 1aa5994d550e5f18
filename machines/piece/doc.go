// Package piece is the machine of the piece collection (DESIGN §4): the Filecoin piece of
// each CAR the service holds, at /<service>/piece/<CAR CID>, one per CAR however many
// spaces store it.
//
// # States
//
//	queued → computed{piece}                     (this package)
//	       → aggregated{piece, aggregate, aggregateKey, inclusion} → dealt{…}   (the aggregate machine)
//
// The piece is the v2 piece CID (FRC-0069) of the CAR's bytes, computed by
// github.com/w3dag/w3dag/piece (Compute): it carries the payload padding, the tree height
// and the root, so the v1 CID and the padded size follow from it (piece.FromCID, V1).
//
// # Queueing and computing
//
// The store machine calls Queue when a store entry reaches done (every path: a put that
// finds the bytes, a delivery after an upload). If the CAR has no piece entry yet, Queue
// writes it queued (its receipt's ran is the store operation's invocation) and schedules,
// in the same transaction, a durable task (machines/task, command ComputeCommand, args
// {content, size, path}); it returns the task's invocation, which the store lists in the
// fx of its done receipt (dag.Tx.Effect). If the entry exists (the CAR was stored before,
// by any space), Queue does nothing: a CAR has one piece and one compute task.
//
// The task's handler (ComputeHandler) reads the entry first: if it is no longer queued
// the piece is finished and the handler returns at once, without reading a byte. Otherwise
// it streams the CAR from blob storage (carwhere.BlobKey) through piece.Compute, checks
// the bytes against the CAR CID on the way (size and sha2-256; a mismatch fails the task
// for good and leaves the entry queued), hashes its md5 in the same pass unless
// ComputeOptions.NoMD5 (the broker offer needs it; the piece index keeps it, so an offer
// reads no CAR byte), and moves
// the entry to computed through
// Engine.Transition (EventComputed) with the task's own invocation, so the computed
// receipt's ran is the task's invocation and the engine answers a repeat with the stored
// receipt. A failed read is retried by the task runner with its backoff; the entry stays
// queued meanwhile. When the retries run out (a blob store down for longer than the
// backoff covers) the task fails for good and the entry stays queued{task}; the next
// store of the CAR, by any space, sees the failed task and queues the piece again with a
// new task (Queue). A process that stops in the middle of a computation leaves the task
// running under a lease that expires; the runner that claims it then computes the piece
// again from the start, and only the first transition to computed changes the entry.
//
// # Pieces computed while uploading
//
// The fs upload endpoint (store.Blobs with a Staged) tees the bytes it stores into a Tee,
// which hashes commP (and the md5 when the Staged asks for it: a service that makes
// offers) on goroutines beside the endpoint's own hashing, and stages the piece once the
// bytes are verified. The delivery that queues the piece calls QueueKnown with it: the
// task's args carry {piece, md5?} and the handler moves the entry to computed from them
// without reading the CAR (a piece there that is not one of the CAR's size is ignored and
// the CAR read). The states, receipts and fx are the same as when the task reads the
// CAR. Without a staged piece (S3 uploads, bytes held before, a restart in between) the
// task reads the CAR as above; ComputeOptions.NoMD5 leaves the md5 out of that pass.
//
// # Joining an aggregate
//
// Machine.Aggregator, when set (machines.Builtin sets the aggregate machine,
// machines/aggregate), is called in the transaction that moves a piece to computed, so a
// computed piece joins an aggregate exactly when its computed receipt exists; the
// aggregate machine later moves it to aggregated with a system write. Package piece
// declares the Aggregator interface and does not import machines/aggregate (which imports
// this package for paths and statuses).
//
// A service dag/put of a PieceInput {content, size} on a CAR without a piece starts the
// same way (queued, a compute task in the fx of its receipt); a different value on an
// existing piece is EntryExists, a same-value put changes nothing. Pieces are not removed.
//
// Each move to computed adds 1 to the service's counter metrics.PieceComputedTotal
// (piece/computed-total) in the same transaction.
//
// Package piece imports dag, collection, blob (the interface), the machines task,
// metrics and carwhere (for the blob key), the commP package github.com/w3dag/w3dag/piece
// internal/capped (the staged pieces) and internal/nodefield (the fields of args and
// states); it must not import server, ops or cmd. It keeps no kv keys of its own.
package piece
