// Package machines is the home of w3dag's state machines and the bookkeeping they share
// (DESIGN §4). Each sub-package plugs into the engine through the interfaces package dag
// declares (dag.Machine, dag.Transitioner, dag.Preparer) or writes through a *dag.Tx:
//
//	store, carwhere   CAR blobs and where their bytes are
//	upload            DAGs made of stored CAR shards
//	usage             space usage records and exact byte·ms reports
//	metrics           counters per space and service-wide, /metrics
//	task              durable effects: scheduled in the cause's transaction, run with leases
//	piece             the Filecoin piece of each held CAR, computed by a task
//	aggregate         FRC-0058 aggregates of computed pieces, joined in the piece's transaction
//
// Each package exports its collection as a dag.Collection (a collection.Spec — name,
// subjects, key rule, key field, writers, entry type — and the machine): store's
// Machine.Collection, upload.Machine{}.Collection(), usage.Collection(), … Builtin is the
// one list of them that the service registers; a new machine adds its collection there.
// Machines keep keys of their own through Tx.KV(prefix), each under its own prefix (listed
// in package dag's documentation).
//
// Machines import dag, collection, receipts, ucan, schema, kv and internal/nodefield (the
// typed fields of states and args), store and piece also blob, piece and aggregate also the commP package piece (and each other where one writes
// the other's records in the same transaction: aggregate imports piece, whose machine
// calls it through the piece.Aggregator interface); never server, ops or cmd. This package imports the machines to list them.
package machines
