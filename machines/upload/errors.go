package upload

import "github.com/w3dag/w3dag/dag"

// ErrShardNotFound is the failure of a put naming shards that are not done store entries
// of the space (errors.Is matches every ShardNotFound failure).
var ErrShardNotFound = &dag.Error{Name: "ShardNotFound", Message: "shard not found"}
