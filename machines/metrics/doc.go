// Package metrics keeps the counters of w3dag (DESIGN §4): per space and service-wide,
// written in the same transaction as the change they count, so they are exact — there is
// no event stream to lose or replay.
//
// A counter is a kv counter (dag.Tx.Add, sharded on backends that shard counters, so
// concurrent writers do not serialise on it) named by subject and metric name. The
// machines add to both the space's and the service's counter (Add is called once for
// each). Counters are read with dag/get on /<did>/metrics/<name> (the collection's Reader
// answers {status: "counter", value: N}, the schema's MetricCounter) and exported on
// /metrics by the Prometheus collector Collector returns, which reads the service-wide
// counters on every scrape.
//
// Package metrics imports dag and the Prometheus client; it must not import server, ops
// or cmd.
package metrics
