// Package metrics keeps the counters of w3dag (DESIGN §4): per space and service-wide,
// written in the same transaction as the change they count, so they are exact — there is
// no event stream to lose or replay.
//
// A metric is an entry like any other, at /<did>/metrics/<group>/<counter> (named by its
// key, the group, and its first field, the counter: Machine is a dag.Reader), with state
// {status: "counter", value: N} (the schema's MetricCounter) and a chain of receipts.
// Machines call Add (and AddBoth, for the space and the service) in the transaction of the
// change they count; the deltas of one group-commit batch are summed (dag.Tx.Batch) and,
// when the batch's operations have run, each changed counter is written once: one
// self-issued Command invocation per MaxCountersPerInvocation counters lists the batch's
// counters and deltas, and each counter gets one receipt (ran = the invocation that lists
// it, origin = its previous head). So a busy counter
// costs one receipt per commit, not one per increment, and select lists the metrics with
// their receipts. Apply runs a Command invocation again, for replay.
//
// Entries are read with dag/get (a metric that has no entry reads 0, or the kv counter it
// was kept in before metrics were entries, which its first entry continues from) and
// exported on /metrics by the Prometheus collector Collector returns, which reads the
// service-wide metrics on every scrape.
//
// Package metrics imports dag, internal/nodefield and the Prometheus client; it must not
// import server, ops or cmd.
package metrics
