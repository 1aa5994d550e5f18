package carwhere

import (
	"fmt"

	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
)

// Machine is the machine of the carwhere collection (register Machine{}.Collection()). Only the
// service writes the collection (the engine refuses other issuers); a dag/put carries a
// CarwhereInput {size, locations} and is merged into the entry like Record does. Remove is
// refused: the schema has no removed state for carwhere, and where bytes are is a fact the
// service changes by writing new locations.
type Machine struct{}

// Collection returns the carwhere collection: a service collection keyed by CAR CIDs that
// only the service writes.
func (m Machine) Collection() dag.Collection {
	return dag.Collection{
		Spec:    collection.Spec{Name: Name, Subjects: collection.Service, Key: collection.KeyCARCID, Writers: collection.ServiceOnly, Type: "CarwhereEntry", PublicRead: true},
		Machine: m,
	}
}

var _ dag.Machine = Machine{}

// merge adds the locations of the value in to cur.
func merge(p dag.Path, cur *Located, in datamodel.Node) (datamodel.Node, error) {
	add, err := Parse(in)
	if err != nil {
		return nil, dag.Failf(dag.ErrInvalidValue.Name, "value of %s: %v", p, err)
	}
	if cur == nil {
		cur = &Located{Size: add.Size}
	}
	if add.Size != cur.Size {
		return nil, dag.Failf(dag.ErrInvalidValue.Name, "%s is located with %d bytes, the value says %d", p, cur.Size, add.Size)
	}
	next, _, err := cur.Merge(add.Locations...)
	if err != nil {
		return nil, dag.Failf(dag.ErrInvalidValue.Name, "value of %s: %v", p, err)
	}
	return next.Node()
}

// Start returns the located state of the value.
func (Machine) Start(_ *dag.Tx, p dag.Path, in datamodel.Node, _ *dag.Entry) (datamodel.Node, error) {
	return merge(p, nil, in)
}

// Same leaves the entry as is.
func (Machine) Same(_ *dag.Tx, _ *dag.Entry) (datamodel.Node, bool, error) { return nil, false, nil }

// Update merges the value's locations into the entry; a different size is InvalidValue.
func (Machine) Update(_ *dag.Tx, e *dag.Entry, in datamodel.Node) (datamodel.Node, error) {
	cur, err := parseEntry(e)
	if err != nil {
		return nil, err
	}
	return merge(e.Path, cur, in)
}

// Remove refuses with InvalidTransition.
func (Machine) Remove(_ *dag.Tx, e *dag.Entry) (datamodel.Node, error) {
	return nil, fmt.Errorf("%w: %s: carwhere entries are not removed", dag.ErrInvalidTransition, e.Path)
}
