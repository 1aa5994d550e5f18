package upload

import (
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/metrics"
)

const (
	// MaxShards is the most shards an upload may have: the state lists them and must fit
	// in a receipt (ucan.MaxTokenSize, 64 KiB; a CAR CID takes about 40 bytes).
	MaxShards = 1024
	// MaxNamedMissing is how many missing shards a ShardNotFound message names; the rest
	// are counted.
	MaxNamedMissing = 32
	// StoreCollection is the collection shards must be done entries of.
	StoreCollection = "store"
	// Name is the name of the upload collection of spaces.
	Name = "upload"
)

// Machine is the upload collection's machine (register Machine{}.Collection()).
type Machine struct{}

// Collection returns the upload collection: a space collection keyed by root CIDs, whose
// put value's root is the key.
func (m Machine) Collection() dag.Collection {
	return dag.Collection{
		Spec:    collection.Spec{Name: Name, Subjects: collection.Space, Key: collection.KeyCID, KeyField: "root", Type: "UploadEntry"},
		Machine: m,
	}
}

var _ dag.Machine = Machine{}

// Start checks the shards and returns done{root, shards}, counting the upload.
func (Machine) Start(tx *dag.Tx, p dag.Path, in datamodel.Node, _ *dag.Entry) (datamodel.Node, error) {
	root, shards, err := parseInput(in)
	if err != nil {
		return nil, err
	}
	shards = union(nil, shards)
	if len(shards) > MaxShards {
		return nil, tooMany(p, len(shards))
	}
	if err := checkShards(tx, p, shards); err != nil {
		return nil, err
	}
	if err := metrics.AddBoth(tx, p.Subject, metrics.UploadAddTotal, 1); err != nil {
		return nil, err
	}
	return doneState(root, shards), nil
}

// Same leaves the upload as is.
func (Machine) Same(_ *dag.Tx, e *dag.Entry) (datamodel.Node, bool, error) {
	return e.State, false, nil
}

// Update adds the shards the upload does not have (after checking them); when it has
// them all, it returns the state unchanged.
func (Machine) Update(tx *dag.Tx, e *dag.Entry, in datamodel.Node) (datamodel.Node, error) {
	root, shards, err := parseInput(in)
	if err != nil {
		return nil, err
	}
	held, err := stateShards(e.State)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", dag.ErrCorrupt, e.Path, err)
	}
	all := union(held, shards)
	if len(all) == len(held) {
		return e.State, nil
	}
	if len(all) > MaxShards {
		return nil, tooMany(e.Path, len(all))
	}
	if err := checkShards(tx, e.Path, all[len(held):]); err != nil {
		return nil, err
	}
	return doneState(root, all), nil
}

// Remove returns removed, counting the removal.
func (Machine) Remove(tx *dag.Tx, e *dag.Entry) (datamodel.Node, error) {
	if err := metrics.AddBoth(tx, e.Path.Subject, metrics.UploadRemoveTotal, 1); err != nil {
		return nil, err
	}
	return dag.RemovedState(), nil
}

func tooMany(p dag.Path, n int) error {
	return dag.Failf(dag.ErrInvalidValue.Name, "%s would have %d shards, more than the limit of %d", p, n, MaxShards)
}

// checkShards fails with ShardNotFound unless every shard is a done store entry of p's
// space.
func checkShards(tx *dag.Tx, p dag.Path, shards []cid.Cid) error {
	var missing []string
	for _, s := range shards {
		ok, err := stored(tx, p.Subject, s)
		if err != nil {
			return err
		}
		if !ok {
			missing = append(missing, s.String())
		}
	}
	if len(missing) == 0 {
		return nil
	}
	named := missing
	more := ""
	if len(named) > MaxNamedMissing {
		named = named[:MaxNamedMissing]
		more = fmt.Sprintf(" and %d more", len(missing)-MaxNamedMissing)
	}
	return dag.Failf(ErrShardNotFound.Name, "%s: %d shard(s) are not stored (done) in the space: %s%s", p, len(missing), strings.Join(named, ", "), more)
}

func stored(tx *dag.Tx, space string, shard cid.Cid) (bool, error) {
	if shard.Prefix().Codec != collection.CodecCAR {
		return false, nil
	}
	ent, err := tx.Entry(dag.Path{Subject: space, Collection: StoreCollection, Key: shard.String()})
	if dag.ErrorName(err) == dag.ErrNotFound.Name {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return ent.Status == dag.StatusDone, nil
}

// union returns held followed by the shards of add it does not hold, in order, once each.
func union(held, add []cid.Cid) []cid.Cid {
	seen := make(map[string]bool, len(held)+len(add))
	out := make([]cid.Cid, 0, len(held)+len(add))
	for _, list := range [][]cid.Cid{held, add} {
		for _, c := range list {
			k := c.KeyString()
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, c)
		}
	}
	return out
}

func parseInput(in datamodel.Node) (cid.Cid, []cid.Cid, error) {
	if in == nil || in.Kind() != datamodel.Kind_Map {
		return cid.Undef, nil, dag.Failf(dag.ErrInvalidValue.Name, "upload value is not a map")
	}
	rn, err := in.LookupByString("root")
	if err != nil {
		return cid.Undef, nil, dag.Failf(dag.ErrInvalidValue.Name, "upload value has no root")
	}
	root, err := linkOf(rn)
	if err != nil {
		return cid.Undef, nil, dag.Failf(dag.ErrInvalidValue.Name, "root: %v", err)
	}
	sn, err := in.LookupByString("shards")
	if err != nil || sn == nil || sn.IsAbsent() {
		return root, nil, nil
	}
	shards, err := links(sn)
	if err != nil {
		return cid.Undef, nil, dag.Failf(dag.ErrInvalidValue.Name, "shards: %v", err)
	}
	return root, shards, nil
}

func stateShards(state datamodel.Node) ([]cid.Cid, error) {
	sn, err := state.LookupByString("shards")
	if err != nil {
		return nil, fmt.Errorf("state has no shards")
	}
	return links(sn)
}

func links(n datamodel.Node) ([]cid.Cid, error) {
	if n.Kind() != datamodel.Kind_List {
		return nil, fmt.Errorf("not a list")
	}
	out := make([]cid.Cid, 0, n.Length())
	it := n.ListIterator()
	for !it.Done() {
		i, v, err := it.Next()
		if err != nil {
			return nil, err
		}
		c, err := linkOf(v)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func linkOf(n datamodel.Node) (cid.Cid, error) {
	l, err := n.AsLink()
	if err != nil {
		return cid.Undef, fmt.Errorf("not a link")
	}
	cl, ok := l.(cidlink.Link)
	if !ok || !cl.Cid.Defined() {
		return cid.Undef, fmt.Errorf("not a CID link")
	}
	return cl.Cid, nil
}

func doneState(root cid.Cid, shards []cid.Cid) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(dag.StatusDone))
		qp.MapEntry(ma, "root", qp.Link(cidlink.Link{Cid: root}))
		qp.MapEntry(ma, "shards", qp.List(int64(len(shards)), func(la datamodel.ListAssembler) {
			for _, s := range shards {
				qp.ListEntry(la, qp.Link(cidlink.Link{Cid: s}))
			}
		}))
	})
	return n
}
