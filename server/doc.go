// Package server is w3dag's HTTP interface (DESIGN §7) and the only package that uses
// gorilla/mux.
//
// Routes:
//
//	POST /ucan                   agent messages in (CAR v1 or UCAN container), receipts out
//	GET  /receipts/{cid}         a receipt (CAR, DAG-JSON or DAG-CBOR); ?chain=1 its chain (paged: ?limit=, W3dag-Chain-Next)
//	GET  /watch/{did}/{path…}    Server-Sent Events of receipts under a path (bearer auth)
//	PUT  /blob/{cid}             upload bytes to a signed URL   (when Options.Blobs is set)
//	GET  /blob/{cid}             read bytes, Range supported     (when Options.Blobs is set)
//	GET  /claims/{cid}           location claims of a CAR        (when Options.Claims is set)
//	GET  /piece/{cid}            a piece's CAR bytes, Range      (when Options.Pieces is set)
//	GET  /ipfs/{cid}[/path…]     content by CID (package gateway)  (when Options.Gateway is set)
//	GET  /index/{space}/{root}   an upload's index/sharded/dag@0.1 (when Options.Index is set)
//	POST /broker/report/{agg}    a deal broker's report          (when Options.Broker is set)
//	GET  /schema                 collections and schema sources  (when Options.Schema is set)
//	GET  /metrics                Prometheus metrics
//	GET  /healthz                liveness (503 StoreFailed once the store has failed)
//	GET  /.well-known/did.json   the service's DID document
//
// POST /ucan, step by step: the body is read (at most MaxMessageSize bytes) and decoded
// once (CAR agent message or UCAN container; every token decoded, limits checked); its
// invocations are checked (signatures, proof chains, arguments — Runner.Check writes
// nothing) and the message is archived; if archiving fails the reply is 503 and nothing
// runs; otherwise the invocations run concurrently (Runner.ExecWith), so the engine
// commits them in as few group commits as possible; the reply carries one receipt per
// invocation, and is archived and indexed after it is sent, in one engine job when the
// archive writes in the engine's transactions (Serve waits for that on shutdown). A
// message of one invocation that runs as an engine write (ops.Checked.Writes) is archived
// in the transaction that runs it, before the run (Archive.Stage, dag.WithPreWrite): one
// commit wait instead of two; if that transaction does not commit, the message is Put
// before the failure is answered.
//
// Transport failures are HTTP 4xx/5xx with the JSON body
// {"error": {"name": "...", "message": "..."}}; failures of invocations are error receipts.
// The limits of DESIGN §9 that concern the wire are constants here and in package message.
//
// The package declares what it consumes (Runner, Store, Archive, Blobs, Claims, Pieces, Broker) and is
// wired by the composition root (cmd/w3dag serve). It imports ops, dag, message, ucan,
// internal/readall (the body reading it shares with the client), blob types and kv's Tx
// (the type of Archive.Stage's write); it never touches kv or blob backends directly.
package server
