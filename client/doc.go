// Package client is the Go client of a w3dag service: it builds, signs and sends UCAN
// invocations of the four DAG commands (/dag/put, /dag/get, /dag/remove, /dag/select) in
// agent messages over HTTP, verifies the signed receipts the service returns, fetches receipts
// and their chains, and follows changes of a path with Server-Sent Events.
//
// A Client holds the agent's signing key and the delegations (proofs) the agent was given;
// for every invocation it picks the chain of delegations from the path's subject to the agent.
// Paths given to a Client are absolute DAG paths: /<subject DID>/<collection>/<key>[/…].
//
// A typical use:
//
//	c, err := client.New(client.Options{URL: "http://127.0.0.1:8080", Signer: agent, Proofs: proofs})
//	r, err := c.Put(ctx, "/did:key:z6Mk…/upload/bafy…", value) // *client.ReceiptError for an error receipt
//	page, err := c.Select(ctx, "/did:key:z6Mk…/upload", client.Query{Limit: 100})
//	chain, err := c.Chain(ctx, r.CID)                          // newest first, every signature checked
//	err = c.Watch(ctx, "/did:key:z6Mk…/upload", "", func(ev client.Event) error { … })
//
// Many invocations go in one agent message with NewInvocation and Send. Receipts are checked
// before they are returned: signed by the service (Options.ServiceDID, or the DID the service
// publishes), and about the invocation sent — or, for a put or remove that changed nothing, the
// entry's head receipt (Receipt.Earlier).
//
// Failures are typed: an error receipt is a *ReceiptError (its name and message as the service
// wrote them), a 4xx/5xx reply an *HTTPError, a service that cannot be reached an
// *UnreachableError, a receipt signed by another DID than the service's a *WrongServiceError;
// the sentinels (ErrNoProof, ErrInvalidReceipt, …) are in errors.go.
//
// The CLI (cmd/w3dag) and the black-box conformance suite (conformance) are built on it.
//
// This package imports only ucan (tokens, keys, containers), receipts (receipt verification)
// and message (the agent-message codec) of w3dag's own packages, and internal/readall (the
// body reading it shares with the server); it never imports the server or the engine.
package client
