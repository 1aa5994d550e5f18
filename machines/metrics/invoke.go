package metrics

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/internal/nodefield"
	"github.com/w3dag/w3dag/ucan"
)

// Command is the command of the self-issued invocation behind metric receipts: at the end
// of every group-commit batch that added to counters, the service invokes it once (once
// per MaxCountersPerInvocation counters) with args
//
//	{seq: Int, ts: Int, add: [{path: String, delta: Int}, …]}
//
// listing each changed counter's entry path and the sum of the batch's deltas, sorted by
// path; seq is the commit sequence the first listed counter's receipt takes (the others
// follow in order) and ts the receipts' meta.ts. Each listed metric gets one receipt
// (ran = this invocation, origin = its previous head) whose state is the previous value
// plus delta. Apply runs such an invocation again (replay).
const Command = "/metrics/add"

// MaxCountersPerInvocation bounds the counters one Command invocation lists, so that it
// stays far below ucan.MaxTokenSize (a listed counter takes about 150 bytes); a batch
// that changed more counters invokes Command more than once.
const MaxCountersPerInvocation = 256

// change is one counter's delta in a Command invocation.
type change struct {
	path  dag.Path
	delta int64
}

// flush writes the counters a batch changed: one Command invocation per
// MaxCountersPerInvocation counters, one receipt per counter.
func flush(tx *dag.Tx, deltas map[counterID]int64) error {
	changes := make([]change, 0, len(deltas))
	for id, d := range deltas {
		if d != 0 {
			changes = append(changes, change{path: Path(id.subject, id.name), delta: d})
		}
	}
	slices.SortFunc(changes, func(a, b change) int { return cmp.Compare(a.path.String(), b.path.String()) })
	for len(changes) > 0 {
		n := min(len(changes), MaxCountersPerInvocation)
		last, err := tx.LastSeq()
		if err != nil {
			return err
		}
		inv, err := tx.Invoke(Command, invocationArgs(last+1, tx.Now().UnixMilli(), changes[:n]))
		if err != nil {
			return fmt.Errorf("metrics invocation: %w", err)
		}
		if err := write(tx, inv.CID, changes[:n]); err != nil {
			return err
		}
		changes = changes[n:]
	}
	return nil
}

// write gives each changed counter its new state, with a receipt ran = inv.
func write(tx *dag.Tx, inv cid.Cid, changes []change) error {
	for _, c := range changes {
		name := c.path.Key + "/" + c.path.Fields[0]
		v, _, err := stored(tx, c.path.Subject, name)
		if err != nil {
			return err
		}
		if _, err := tx.Put(c.path, inv, State(v+c.delta)); err != nil {
			return fmt.Errorf("writing metric %s: %w", c.path, err)
		}
	}
	return nil
}

func invocationArgs(seq uint64, ts int64, changes []change) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "seq", qp.Int(int64(seq)))
		qp.MapEntry(ma, "ts", qp.Int(ts))
		qp.MapEntry(ma, "add", qp.List(int64(len(changes)), func(la datamodel.ListAssembler) {
			for _, c := range changes {
				qp.ListEntry(la, qp.Map(2, func(ma datamodel.MapAssembler) {
					qp.MapEntry(ma, "path", qp.String(c.path.String()))
					qp.MapEntry(ma, "delta", qp.Int(c.delta))
				}))
			}
		}))
	})
	return n
}

// Invocation is a decoded Command invocation.
type Invocation struct {
	// Seq is the commit sequence of the first listed counter's receipt.
	Seq uint64
	// TS is the receipts' meta.ts, Unix milliseconds.
	TS int64
	// Paths are the counters' entry paths and Deltas what is added to each.
	Paths  []dag.Path
	Deltas []int64
}

// ParseInvocation decodes a Command invocation issued by service, checking its command,
// issuer, subject and args: every path a metric entry path (/<did>/metrics/<group>/<counter>)
// listed once, in order, with a non-zero delta; at most MaxCountersPerInvocation. Failures
// wrap ErrInvalidInvocation.
func ParseInvocation(tok *ucan.Token, service string) (*Invocation, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidInvocation, fmt.Sprintf(format, a...))
	}
	inv := tok.Invocation
	switch {
	case inv == nil:
		return nil, bad("%s is not an invocation", tok.CID)
	case inv.Command != Command:
		return nil, bad("command %q, want %q", inv.Command, Command)
	case inv.Issuer != service || inv.Subject != service:
		return nil, bad("issued by %s on %s, want the service %s on itself", inv.Issuer, inv.Subject, service)
	}
	args := inv.Args
	seq, err := nodefield.Int(args, "seq")
	if err != nil {
		return nil, bad("args.seq: %v", err)
	}
	if seq < 1 {
		return nil, bad("args.seq is %d, want a sequence ≥ 1", seq)
	}
	ts, err := nodefield.Int(args, "ts")
	if err != nil {
		return nil, bad("args.ts: %v", err)
	}
	list, err := args.LookupByString("add")
	if err != nil || list.Kind() != datamodel.Kind_List {
		return nil, bad("args.add: want a list of {path, delta}")
	}
	n := list.Length()
	if n < 1 || n > MaxCountersPerInvocation {
		return nil, bad("args.add lists %d counters, want 1 to %d", n, MaxCountersPerInvocation)
	}
	out := &Invocation{Seq: uint64(seq), TS: ts}
	prev := ""
	for i := range n {
		item, _ := list.LookupByIndex(i)
		ps, err := nodefield.String(item, "path")
		if err != nil {
			return nil, bad("args.add[%d].path: %v", i, err)
		}
		delta, err := nodefield.Int(item, "delta")
		if err != nil {
			return nil, bad("args.add[%d].delta: %v", i, err)
		}
		if delta == 0 {
			return nil, bad("args.add[%d].delta is 0, want a non-zero integer", i)
		}
		p, err := dag.ParsePath(ps)
		if err != nil {
			return nil, bad("args.add[%d].path: %v", i, err)
		}
		if p.Collection != Name || len(p.Fields) != 1 || p.String() != ps {
			return nil, bad("args.add[%d].path %q is not a metric entry path /<did>/%s/<group>/<counter>", i, ps, Name)
		}
		if err := checkSubject(p.Subject); err != nil {
			return nil, bad("args.add[%d].path: %v", i, err)
		}
		if err := CheckName(p.Key + "/" + p.Fields[0]); err != nil {
			return nil, bad("args.add[%d].path: %v", i, err)
		}
		if ps <= prev {
			return nil, bad("args.add[%d].path %q is not after %q (paths are sorted, each once)", i, ps, prev)
		}
		prev = ps
		out.Paths = append(out.Paths, p)
		out.Deltas = append(out.Deltas, delta)
	}
	return out, nil
}

// Apply runs a Command invocation again inside tx, as replay does: it stores and archives
// the invocation as flush's Tx.Invoke did (dag.Tx.Archive) and writes each listed counter as flush did, at the sequence and time the
// invocation names. The transaction's next sequence must be args.seq (ErrOutOfOrder
// otherwise: the invocation is being replayed at another place in the commit order than
// where it ran) and its clock args.ts (ErrOutOfOrder too). Counters added to in tx's batch
// by the machines are written by the batch's own Command invocation, not by this one:
// replay runs with the engine's finishers off (dag.Options.NoFinish).
func Apply(tx *dag.Tx, tok *ucan.Token) error {
	inv, err := ParseInvocation(tok, tx.Service())
	if err != nil {
		return err
	}
	last, err := tx.LastSeq()
	if err != nil {
		return err
	}
	if last+1 != inv.Seq {
		return fmt.Errorf("%w: %s names sequence %d, the next sequence is %d", ErrOutOfOrder, tok.CID, inv.Seq, last+1)
	}
	if ts := tx.Now().UnixMilli(); ts != inv.TS {
		return fmt.Errorf("%w: %s names time %d, the transaction's is %d", ErrOutOfOrder, tok.CID, inv.TS, ts)
	}
	if err := tx.Archive(tok); err != nil {
		return err
	}
	changes := make([]change, len(inv.Paths))
	for i := range inv.Paths {
		changes[i] = change{path: inv.Paths[i], delta: inv.Deltas[i]}
	}
	return write(tx, tok.CID, changes)
}
