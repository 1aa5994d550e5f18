package machines

import (
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/store"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/machines/upload"
	"github.com/w3dag/w3dag/machines/usage"
)

// Builtin returns every built-in collection, with storeMachine running the store
// collection (a *store.Machine in the service; tests may give a stand-in) and an
// aggregate machine with the default (Spade) bounds. This is the one list of them: a new
// machine adds its collection here.
func Builtin(storeMachine dag.Machine) []dag.Collection {
	agg, err := aggregate.New(aggregate.DefaultBounds)
	if err != nil {
		panic("machines: the default aggregate bounds: " + err.Error()) // a constant: cannot happen
	}
	return BuiltinWith(storeMachine, agg)
}

// BuiltinWith is Builtin with agg running the aggregate collection; the piece machine
// tells agg of every computed piece (piece.Aggregator).
func BuiltinWith(storeMachine dag.Machine, agg *aggregate.Machine) []dag.Collection {
	return []dag.Collection{
		{Spec: store.Spec, Machine: storeMachine},
		upload.Machine{}.Collection(),
		usage.Collection(),
		metrics.Machine{}.Collection(),
		carwhere.Machine{}.Collection(),
		task.Collection(),
		piece.Machine{Aggregator: agg}.Collection(),
		agg.Collection(),
	}
}
