// Package ops runs the four DAG commands — /dag/put, /dag/get, /dag/remove, /dag/select —
// for UCAN invocations (DESIGN §2): it decodes their arguments, checks their authority and
// dispatches them to the dag engine, and it is the one place where failures are given
// their receipt error names.
//
// Authority: the invocation's sub is the subject of the path (args.path is relative to
// it); the invoker needs a valid UCAN chain from that subject (ucan.Validator: signatures,
// time bounds, policies, at most ucan.MaxProofDepth proofs) whose command covers the
// operation ("/dag" covers all four, "/dag/get" only reads, "/" everything). An invocation
// with no proofs is valid only when its issuer is its subject. Collections of the service
// subject are read by anyone the service delegates to and written only by the service
// itself; reads (get, select, watch) of the paths Options.PublicRead names (the service
// collections whose collection.Spec sets PublicRead, unless the operator turns this off)
// need no proof at all, only a validly signed, unexpired invocation. The invocation's aud,
// when present, must be the service.
//
// Refused invocations (unknown command, missing authority) get an error receipt signed by
// the service and not stored: nothing is written for them. Authorised invocations whose
// arguments do not decode get a stored error receipt (dag.Engine.Fail). Everything else is
// the engine's, including the atomic rule that a task which already ran gets its stored
// result.
//
// Imports: dag, receipts, ucan (and ucan/did); never server, kv or blob.
package ops
