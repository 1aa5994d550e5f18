// Package dagbomb builds small UnixFS DAGs that repeat nodes holding nothing: levels of
// dag-pb nodes, each linking the node below it many times, over an empty file node. A
// CAR of a few blocks names 10⁹ visits (three levels of 1,000 links) that give no byte,
// or as many empty files. The gateway's tests, client/unixfs's and the conformance suite
// store them to prove that such a DAG is refused in bounded time.
//
// It imports the standard library, boxo's merkledag and unixfs, go-cid, go-ipld-format
// and message (the block type), nothing else of w3dag's.
package dagbomb
