// Package conformance is a black-box test suite of the w3dag protocol: it talks to a service
// over HTTP only (POST /ucan, GET /receipts/{cid}, GET /watch/…, GET /schema,
// GET /.well-known/did.json, GET /blob/{cid}, GET /piece/{cid}, GET|HEAD /ipfs/{cid}[/path],
// GET /index/{space}/{root}, and PUTs to upload URLs) through package client, and checks
// what DESIGN.md promises: the four DAG operations and their receipts, receipt chains and
// effects (fx), store uploads and the metrics entries they write, authorisation failures
// as UCAN-named error receipts, malformed input answered with 4xx JSON errors, the
// gateway, and the collections GET /schema lists.
//
// Run it from a Go test with Run(t, Target{URL: …}), or from anywhere with RunReport (what
// `w3dag conformance --url URL` does). Every case uses a fresh agent key and space, so the
// suite can run against a shared, long-lived service.
//
// This package imports client, message and ucan of w3dag's own packages (and
// internal/dagbomb, which builds the DAG of the gateway-barren-file case), never the
// server or the engine.
package conformance
