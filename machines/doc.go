// Package machines is the home of w3dag's state machines and the bookkeeping they share
// (DESIGN §4). Each sub-package plugs into the engine through the interfaces package dag
// declares (dag.Machine, dag.Transitioner, dag.Preparer) or writes through a *dag.Tx:
//
//	store, carwhere   CAR blobs and where their bytes are
//	upload            DAGs made of stored CAR shards
//	usage             space usage records and exact byte·ms reports
//	metrics           counters per space and service-wide, /metrics
//	task              durable effects: scheduled in the cause's transaction, run with leases
//
// Machines import dag, receipts, ucan, schema and kv, store also blob (and each other where
// one writes the other's records in the same transaction); never server, ops or cmd.
package machines
