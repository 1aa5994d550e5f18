// Package s3 is the blob.Store on an S3 bucket (AWS S3, Cloudflare R2, MinIO, versitygw or
// any other S3 server), built on aws-sdk-go-v2.
//
// Each blob is one object at Options.Prefix + "/" + key. Put streams the bytes through a
// multipart upload with a bounded number of fixed-size part buffers (PartSize ×
// (Concurrency+1) bytes at most) while hashing and counting them; the last part is read
// only after size and digest have been checked, and a mismatch aborts the upload, so a
// rejected Put stores nothing and leaves an earlier object at the key untouched. Get
// sends a Range request and refuses a range the server would have shortened; Stat is a
// HEAD; List pages through ListObjectsV2, whose order is the keys' byte order.
//
// Presigned uploads: PresignPut returns a SigV4-presigned PUT that signs Content-Length and
// x-amz-checksum-sha256, so the server refuses any other length (signature mismatch) or
// other bytes (BadDigest). versitygw v1.8 was tested to enforce both, and expiry; AWS S3
// documents the same. A server that ignored the checksum would store what it was sent, so
// before treating an upload as done the service calls CheckUpload, which compares the
// object's size and stored SHA-256 (a HEAD) and, when the server keeps no full-object
// SHA-256, reads the object back and hashes it.
//
// # Integration tests
//
// The tests run against a real S3 server named by the environment variable W3DAG_TEST_S3
// and are skipped when it is unset. Its format is the one ParseURL reads:
//
//	http://ACCESS_KEY:SECRET_KEY@127.0.0.1:7070/BUCKET[/PREFIX]?region=us-east-1
//
// (https for TLS; region defaults to us-east-1; path-style addressing unless
// "virtual=1"). The bucket is created if missing; each test works under a fresh random
// prefix and deletes what it wrote.
//
// This package imports only package blob of w3dag's own.
package s3
