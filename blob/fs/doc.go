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
// A Put streams through a ring of PipelineDepth buffers of CopyBufferSize bytes passed
// along three goroutines: one reads the next buffer (checking the size), one hashes the
// previous one, one writes the one before; memory stays bounded and reading, hashing and
// writing overlap. Blobs of DirectMinSize bytes or
// more are written with direct I/O (O_DIRECT on Linux) where the file system has it: the
// bytes go from the buffers to the disk without a copy into the page cache and without
// the final fsync having to write the whole blob back; an unaligned tail, and everything
// on file systems without direct I/O, is written through the page cache, whose write-back
// starts every WritebackInterval bytes. The final fsync of the file and the directory stay.
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
