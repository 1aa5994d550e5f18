// Package gateway serves content by CID at GET|HEAD /ipfs/{cid}[/path…]: the IPFS
// Trustless Gateway (application/vnd.ipld.raw and application/vnd.ipld.car with
// dag-scope, entity-bytes, order and dups) and deserialized responses (UnixFS files with
// a Content-Type, Range, ETag / If-None-Match, directory listings), through boxo/gateway.
//
// Blocks come from the stored CARs: Blockstore finds a block's CAR, offset and length in
// the block index (machines/blockindex), reads exactly those bytes from blob storage with
// a range read, checks them against the CID and keeps recent blocks in a small LRU
// (CacheSize bytes). It is read-only and offline: a block no stored CAR holds is
// ipld.ErrNotFound, which boxo answers with 404; a malformed CID is 400. An unknown root,
// and a CAR request for a path that does not resolve, are 404 before any byte is written.
//
// A UnixFS file asked for whole (a deserialized GET with no Range, or the CAR of
// /ipfs/{root} with dag-scope=all or entity, for a file the same blocks, and no
// entity-bytes) is streamed by the gateway itself: its large raw leaves are read into
// pooled LeafBufferSize buffers, at most ReadAhead ahead of the response, checked and
// copied out, instead of each becoming a block boxo holds until the garbage collector
// frees it. The CAR is byte for byte boxo's.
//
// A file's walk that visits more than MaxBarrenNodes nodes in a row without a byte, and
// any other error about the stored DAG, wraps ErrMalformed: before the response's first
// byte it is a 422 naming what is wrong. Boxo's own walks are bounded by
// MaxReadsWithoutWrite blocks read while the response writes nothing, and by
// Options.RetrievalTimeout (a response that writes nothing for that long is a 504 or is
// cut); the Blockstore answers no read once a request's context has ended.
// Options.MaxRequests bounds the requests served at once (429 beyond).
//
// Options.Spaces restricts the gateway to blocks of CARs that one of the listed spaces
// holds (a done store entry); nil serves every stored CAR, like the incumbent's public
// gateway.
//
// Package gateway imports blob (the interface), dag, machines/blockindex,
// machines/carwhere (the blob key), message (CAR encoding) and boxo; it must not import
// server, ops or cmd.
package gateway
