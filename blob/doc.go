// Package blob defines the byte-storage interface w3dag keeps CAR files and archived agent
// messages behind. Backends live in sub-packages named after their technology (blob/fs,
// blob/s3, blob/mem); blob/blobtest is the contract suite every backend must pass.
//
// Keys are slash-separated names chosen by w3dag (for example
// "carpark/<cid>/<cid>.car"), never file paths supplied by users: ValidKey says which
// keys are acceptable.
//
// Helpers for backends: Verify streams a Put's bytes while checking size and SHA-256, so
// a backend that publishes only after the reader ended stores nothing that does not match
// (DigestCheck is its digest half, for a backend that hashes in a goroutine of its own);
// Range.Bounds resolves a range against a blob's size; Request.NewHTTPRequest turns a
// presigned upload into a net/http request.
//
// Presigned uploads (Presigner): the s3 backend returns a SigV4 URL that pins
// Content-Length and x-amz-checksum-sha256, enforced by the S3 server (and checkable
// afterwards with s3's CheckUpload); the fs backend returns an HMAC-signed URL of w3dag's
// own PUT /blob route, whose handler calls fs's VerifyPresigned and then streams the body
// into Put with the PutOptions it returned.
//
// This package imports nothing of w3dag's own.
package blob
