// Package unixfs turns files and directories into UnixFS DAGs and back, with the settings
// of the incumbent's JS upload client and `ipfs-car pack` (npm ipfs-car@3.1.0, which uses
// @ipld/unixfs), so the same input gives the same root CID: CIDv1, raw leaves, fixed
// 1 MiB chunks, a balanced layout of width 1024, and directories of more than 1,000
// entries HAMT-sharded (fanout 256, murmur3). The DAG nodes are built by boxo's UnixFS
// importer and HAMT; this package only walks the file system the way ipfs-car does and
// hands every block, children before parents, to a callback.
// A file's raw leaves go as FileBlocks, which also say where in the file their bytes are.
//
// Sharder cuts that block stream into CARv1 shards, written to files or, from
// NewViewSharder, kept as views: the CAR framing in memory and the leaves as ranges of
// their files, read again by Shard.NewReader.
//
// Extract does the reverse: it reads a CAR stream (as a trustless gateway sends it),
// checks every block against its CID while it streams, and writes the file or directory
// at a path atomically.
//
// It must not import the service's packages (server, machines, kv, blob): it is client code.
package unixfs
