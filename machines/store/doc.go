// Package store is the machine of the store collection (DESIGN §4): CAR blobs a space
// keeps, at /<space>/store/<CAR CID>, and the fs upload endpoint that delivers their
// bytes (Blobs, which implements the server's Blobs interface).
//
// # States
//
//	(put) → pending{url, headers, expires} → done
//	                                       → expired   (deadline passed without the bytes)
//	                                       → failed{reason}  (the bytes are not the size the
//	                                                          entry said, or not a CAR when
//	                                                          Options.Index is set)
//	(put) → done                            (bytes already held)
//	any live state → removed                (dag/remove)
//
// The input is the schema's StoreInput {link, size, origin?}; the engine checks that
// link is the entry key. A put is refused with an error receipt when the CID is not a
// sha2-256 CAR CID or the size is below 1 (InvalidValue), or when the size is above
// Options.MaxBlobSize (TooLarge, default MaxBlobSize, 4 GiB). The schema's "queued" state
// is never produced: an upload URL is presigned synchronously, so a new entry is pending
// (or done) at once.
//
// Bytes already held — the CAR is located in carwhere (uploaded earlier by any space), or
// the bytes are found verified at the CAR's blob key (Prepare, before the transaction:
// Stat on fs, a HEAD with size and SHA-256 on S3) — make the entry done at once, with no
// upload. Otherwise the entry is pending with a URL presigned by the blob store
// (blob.Presigner: on fs an HMAC-signed PUT <public-url>/blob/<cid>; on S3 a presigned PUT
// pinning Content-Length and x-amz-checksum-sha256), valid for Options.UploadURLTTL
// (DefaultUploadURLTTL, 1 h). In the same transaction the machine schedules an expiry
// task (machines/task, command ExpireCommand) at the deadline and indexes the entry under
// storepending/<cid>/<space> (value: the input size and the deadline), so an upload can
// find every space waiting for a CID.
//
// A put of the same value on a pending entry checks again (Prepare) whether the bytes
// arrived, and moves the entry to done if so — the way S3 uploads are confirmed, since
// S3 tells nobody. Past the deadline it moves the entry to expired instead.
//
// # Effects of done and removed
//
// Reaching done writes, in the same transaction: the carwhere entry of the CID
// (carwhere.Record, adding this backend's location when the bytes were verified at its
// key), the space's usage (+size, usage.Record, caused by the invocation whose receipt is
// the change) and the counters store/add-total and store/add-size-total of the space and
// of the service. It also queues the CAR's piece (piece.Queue): the first time any space
// holds the CAR, the piece entry /<service>/piece/<cid> is written queued and its compute
// task scheduled, and that task's invocation is listed in the fx of the done receipt
// (dag.Tx.Effect); later done entries of the same CAR find the piece and list no fx.
// Removing a done entry records usage −size and the counters
// store/remove-total and store/remove-size-total; removing a pending entry drops it from
// the pending index (its expiry task then finds nothing to do).
//
// # Delivery and expiry
//
// Blobs.Upload serves PUT /blob/{cid} for the fs backend: it verifies the signed,
// expiring URL (blob/fs VerifyPresigned), checks that the signed digest is the CID's,
// streams the body into the store through a temporary file while hashing it (blob/fs Put
// with the size and SHA-256), and only then moves every pending entry of that CID, in
// every space, to done: each through its own self-issued DeliverCommand invocation and
// Engine.Transition with event EventDelivered, so each has its own receipt. Bytes that
// are not the CID's are refused (blob.ErrDigestMismatch or blob.ErrSizeMismatch, HTTP
// 400), nothing is stored and the entries stay pending. With BlobsOptions.Pieces it
// also computes the CAR's piece in that pass (piece.Staged.Tee) and stages it; the
// delivery that queues the piece hands it to the compute task (piece.QueueKnown,
// Options.Pieces), which then reads nothing.
//
// The expiry task's handler (Machine.ExpireHandler) runs the transition EventExpire with
// the task's own invocation, so a re-run after a crash is answered by the engine's task
// deduplication: a pending entry whose deadline is the task's and has passed becomes
// expired; an entry that is done, removed, or pending with a later deadline (started
// again) is left alone. A task that runs early (clock skew) fails and is retried.
//
// Package store imports dag, blob (the interfaces, never a backend), and the machines
// carwhere, usage, metrics, task and piece; it must not import server, ops or cmd.
package store
