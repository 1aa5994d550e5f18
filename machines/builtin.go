package machines

import (
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/store"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/machines/upload"
	"github.com/w3dag/w3dag/machines/usage"
)

// Aggregate describes the aggregate collection of the service (DESIGN §4). It has no
// machine yet: only the service may write it; anyone may read it.
var Aggregate = dag.Collection{Spec: collection.Spec{Name: "aggregate", Subjects: collection.Service,
	Writers: collection.ServiceOnly, Type: "AggregateEntry", PublicRead: true}}

// Builtin returns every built-in collection, with storeMachine running the store
// collection (a *store.Machine in the service; tests may give a stand-in). This is the
// one list of them: a new machine adds its collection here.
func Builtin(storeMachine dag.Machine) []dag.Collection {
	return []dag.Collection{
		{Spec: store.Spec, Machine: storeMachine},
		upload.Machine{}.Collection(),
		usage.Collection(),
		metrics.Machine{}.Collection(),
		carwhere.Machine{}.Collection(),
		task.Collection(),
		piece.Machine{}.Collection(),
		Aggregate,
	}
}
