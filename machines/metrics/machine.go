package metrics

import (
	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
)

// Machine is the machine of the metrics collections (register Machine{}.Collection()).
// Metric entries are written by the service alone, once per counter per commit (Add,
// Command), so every write through the four operations is refused. It is a dag.Reader:
// a metric entry is named by its key and first field (/<did>/metrics/<group>/<counter>),
// and Read answers dag/get with the stored entry, or a computed one for a metric that has
// none yet.
type Machine struct{}

// Collection returns the metrics collection of spaces and of the service, which only the
// service writes (by counting).
func (m Machine) Collection() dag.Collection {
	return dag.Collection{
		Spec:    collection.Spec{Name: Name, Subjects: collection.Space | collection.Service, Writers: collection.ServiceOnly, Type: "MetricEntry", PublicRead: true},
		Machine: m,
	}
}

var (
	_ dag.Machine = Machine{}
	_ dag.Reader  = Machine{}
)

func readOnly(p dag.Path) error {
	return dag.Failf(dag.ErrReadOnlyCollection.Name, "%s: metrics are counted by the service, not written", p)
}

// Start refuses: metrics are not written with dag/put.
func (Machine) Start(_ *dag.Tx, p dag.Path, _ datamodel.Node, _ *dag.Entry) (datamodel.Node, error) {
	return nil, readOnly(p)
}

// Same refuses (there are no stored metric entries to repeat).
func (Machine) Same(_ *dag.Tx, e *dag.Entry) (datamodel.Node, bool, error) {
	return nil, false, readOnly(e.Path)
}

// Update refuses.
func (Machine) Update(_ *dag.Tx, e *dag.Entry, _ datamodel.Node) (datamodel.Node, error) {
	return nil, readOnly(e.Path)
}

// Remove refuses: counters are not removed.
func (Machine) Remove(_ *dag.Tx, e *dag.Entry) (datamodel.Node, error) {
	return nil, readOnly(e.Path)
}

// Read resolves a dag/get of /<did>/metrics/<group>/<counter>[/<field>…]: the entry is
// the path up to the counter and its state {status: "counter", value: N}. A path that
// names no metric (no counter segment, or a name that is not a metric name) is NotFound;
// a metric never added to reads 0, with a receipt issued for the read (not stored).
func (Machine) Read(tx *dag.Tx, p dag.Path) (*dag.Entry, error) {
	if len(p.Fields) == 0 {
		return nil, dag.Failf(dag.ErrNotFound.Name, "%s names a group of metrics; add the counter, e.g. %s/%s/add-total", p, p.Collection, p.Key)
	}
	name := p.Key + "/" + p.Fields[0]
	if err := CheckName(name); err != nil {
		return nil, dag.Failf(dag.ErrNotFound.Name, "%s: no metric %q", p, name)
	}
	if err := checkSubject(p.Subject); err != nil {
		return nil, dag.Failf(dag.ErrNotFound.Name, "%s: %v", p, err)
	}
	v, ent, err := stored(tx, p.Subject, name)
	if err != nil || ent != nil {
		return ent, err
	}
	// No entry yet: the value it would start from (0, or a kv counter from before metrics
	// were entries), with a receipt issued for the read.
	return &dag.Entry{Path: Path(p.Subject, name), Status: StatusCounter, State: State(v)}, nil
}
