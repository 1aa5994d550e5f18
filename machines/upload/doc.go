// Package upload is the machine of the upload collection (DESIGN §4): an upload is a DAG
// (its root CID is the entry key) made of CAR shards the space stores.
//
// Put {root, shards?}: every shard must be a done store entry of the same space, or the
// put fails with ShardNotFound naming the missing shards. A new upload is done{root,
// shards} and counts upload/add-total for the space and the service in the same
// transaction. A put with shards the upload does not have yet is an update: the state
// becomes the union (the shards held, then the new ones in the order given), a new
// receipt whose origin is the previous head. A put whose shards are all held already
// changes nothing. Remove → removed, counting upload/remove-total. A removed upload put
// again starts again (and counts as added again).
//
// Package upload imports dag and machines/metrics; it must not import server, ops or cmd.
package upload
