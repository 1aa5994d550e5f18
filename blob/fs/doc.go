// Package fs is the file-system blob.Store, w3dag's default: each blob is one file under a
// root directory, at the path its key names ("carpark/<cid>/<cid>.car").
//
// Keys become paths only after blob.ValidKey accepted them, and every file access goes
// through an os.Root, so no key or symbolic link reaches outside the root. A Put streams
// the bytes into a temporary file in the target directory while hashing them, checks size
// and SHA-256, fsyncs the file, renames it over the key and fsyncs the directory: readers
// see the old blob or the whole new one, never a part, and a rejected Put leaves nothing
// behind. Temporary files have names no key can have ("~put-…"), so List never shows them;
// a crash can leave one behind, which is harmless.
//
// A key cannot also be a directory of other keys: with a blob at "a", a Put of "a/b"
// fails with ErrKeyConflict, and the other way round.
//
// Presigned uploads: blobs are served by w3dag itself, so the Store signs upload URLs
// with an HMAC (Options.Secret) that w3dag's HTTP server checks with VerifyPresigned before
// streaming the request body into Put with the size and digest the signature pinned.
//
// This package imports only package blob of w3dag's own.
package fs
