package dag_test

import (
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
)

// testCollections are the collections the tests' engines register: a store keyed by CAR
// CIDs and an upload keyed by CIDs, like the built-in ones, with test machines; usage and
// metrics written by the service only, without machines.
func testCollections() []dag.Collection {
	return []dag.Collection{
		{Spec: collection.Spec{Name: "store", Subjects: collection.Space, Key: collection.KeyCARCID, KeyField: "link", Type: "StoreEntry"}, Machine: storeLike{}},
		{Spec: collection.Spec{Name: "upload", Subjects: collection.Space, Key: collection.KeyCID, KeyField: "root", Type: "UploadEntry"}, Machine: uploadLike{}},
		{Spec: collection.Spec{Name: "usage", Subjects: collection.Space, Writers: collection.ServiceOnly}},
		{Spec: collection.Spec{Name: "metrics", Subjects: collection.Space | collection.Service, Writers: collection.ServiceOnly}},
	}
}

// withMachine returns an option that registers m for the collection name, replacing the
// machine of a registration of that name (a new one is a space collection).
func withMachine(name string, m dag.Machine) func(*dag.Options) {
	return func(o *dag.Options) {
		cols := []dag.Collection{{Spec: collection.Spec{Name: name, Subjects: collection.Space}, Machine: m}}
		// The spec of a registered collection of that name is kept.
		for _, c := range o.Collections {
			if c.Name == name {
				cols[0].Spec = c.Spec
			} else {
				cols = append(cols, c)
			}
		}
		o.Collections = cols
	}
}

// storeLike mimics the store machine: start → queued; a same-value put advances queued →
// done ("bytes arrived"); a different value is EntryExists; remove → removed. Event
// "expire" moves a queued entry to expired, "fail" to failed.
type storeLike struct{}

func statusNode(s string) datamodel.Node {
	return must(qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "status", qp.String(s))
	}))
}

func (storeLike) Start(_ *dag.Tx, _ dag.Path, _ datamodel.Node, _ *dag.Entry) (datamodel.Node, error) {
	return statusNode("queued"), nil
}

func (storeLike) Same(_ *dag.Tx, e *dag.Entry) (datamodel.Node, bool, error) {
	if e.Status == "queued" {
		return statusNode("done"), true, nil
	}
	return e.State, false, nil
}

func (storeLike) Update(_ *dag.Tx, e *dag.Entry, _ datamodel.Node) (datamodel.Node, error) {
	return nil, dag.ErrEntryExists
}

func (storeLike) Remove(_ *dag.Tx, _ *dag.Entry) (datamodel.Node, error) {
	return dag.RemovedState(), nil
}

func (storeLike) Transition(_ *dag.Tx, e *dag.Entry, event string, _ datamodel.Node) (datamodel.Node, error) {
	if e.Status != "queued" {
		return nil, dag.Failf(dag.ErrInvalidTransition.Name, "%s is %s", e.Path, e.Status)
	}
	switch event {
	case "expire":
		return statusNode("expired"), nil
	case "fail":
		return must(qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "status", qp.String("failed"))
			qp.MapEntry(ma, "reason", qp.String("test"))
		})), nil
	}
	return nil, dag.Failf(dag.ErrInvalidTransition.Name, "unknown event %q", event)
}

// uploadLike mimics the upload machine: state {status: done, root, shards}; a put with
// other shards is an update to the union of the shards.
type uploadLike struct{}

func uploadState(root datamodel.Node, shards []datamodel.Node) (datamodel.Node, error) {
	return qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "status", qp.String("done"))
		qp.MapEntry(ma, "root", qp.Node(root))
		qp.MapEntry(ma, "shards", qp.List(int64(len(shards)), func(la datamodel.ListAssembler) {
			for _, s := range shards {
				qp.ListEntry(la, qp.Node(s))
			}
		}))
	})
}

func listOf(n datamodel.Node, field string) []datamodel.Node {
	v, err := n.LookupByString(field)
	if err != nil {
		return nil
	}
	var out []datamodel.Node
	it := v.ListIterator()
	for !it.Done() {
		_, e, _ := it.Next()
		out = append(out, e)
	}
	return out
}

func (uploadLike) Start(_ *dag.Tx, _ dag.Path, in datamodel.Node, _ *dag.Entry) (datamodel.Node, error) {
	return uploadState(must(in.LookupByString("root")), listOf(in, "shards"))
}

func (uploadLike) Same(_ *dag.Tx, e *dag.Entry) (datamodel.Node, bool, error) {
	return e.State, false, nil
}

func (uploadLike) Update(_ *dag.Tx, e *dag.Entry, in datamodel.Node) (datamodel.Node, error) {
	shards := listOf(e.State, "shards")
	seen := map[string]bool{}
	for _, s := range shards {
		l, _ := s.AsLink()
		seen[l.String()] = true
	}
	for _, s := range listOf(in, "shards") {
		l, _ := s.AsLink()
		if !seen[l.String()] {
			seen[l.String()] = true
			shards = append(shards, s)
		}
	}
	return uploadState(must(e.State.LookupByString("root")), shards)
}

func (uploadLike) Remove(_ *dag.Tx, _ *dag.Entry) (datamodel.Node, error) {
	return dag.RemovedState(), nil
}
