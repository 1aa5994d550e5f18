package aggregate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/internal/nodefield"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/task"
	commp "github.com/w3dag/w3dag/piece"
	"github.com/w3dag/w3dag/ucan"
)

// Handlers returns the task handlers of the aggregate machine m, by command, for the
// task runner of e: IncludeCommand, DealtCommand and RequeueCommand (OfferCommand's
// handler, which needs the broker, is OfferHandler). logger may be nil.
func (m *Machine) Handlers(e *dag.Engine, logger *slog.Logger) map[string]task.Handler {
	return map[string]task.Handler{
		IncludeCommand: IncludeHandler(e, logger),
		DealtCommand:   DealtHandler(e),
		RequeueCommand: m.RequeueHandler(e),
	}
}

// IncludeHandler returns the handler of include tasks: it rebuilds the ready aggregate at
// the task's path from its members' piece CIDs, checks that it is the aggregate piece CID
// of the entry, and moves each member piece entry to aggregated{piece, aggregate, aggregateKey,
// inclusion} (ran: the task's invocation), at most MovesPerTx per transaction, skipping
// members already aggregated in it. Inconsistent entries fail the task for good
// (ErrNotReady, ErrMember); kv errors are returned for the runner to retry.
func IncludeHandler(e *dag.Engine, logger *slog.Logger) task.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, inv *ucan.Token) error {
		if inv == nil || inv.Invocation == nil {
			return task.Permanent(fmt.Errorf("%w: include task without an invocation", task.ErrInvalidTask))
		}
		ap, err := task.PathOf(inv.Invocation.Args)
		if err != nil {
			return task.Permanent(err)
		}
		if ap.Collection != Name || ap.Subject != e.Service() {
			return task.Permanent(fmt.Errorf("%w: including %s: not an aggregate of the service", task.ErrInvalidTask, ap))
		}
		cur, err := e.Entry(ctx, ap)
		if errors.Is(err, dag.ErrNotFound) {
			return task.Permanent(fmt.Errorf("including %s: %w: no entry", ap, ErrNotReady))
		}
		if err != nil {
			return fmt.Errorf("including %s: reading the entry: %w", ap, err)
		}
		ac, err := PieceCID(cur.State)
		if err != nil {
			return task.Permanent(fmt.Errorf("including %s: %w: %s: %v", ap, ErrNotReady, cur.Status, err))
		}
		members, err := Members(cur.State)
		if err != nil {
			return task.Permanent(fmt.Errorf("including %s: %w: %v", ap, ErrNotReady, err))
		}
		want, err := commp.FromCID(ac)
		if err != nil {
			return task.Permanent(fmt.Errorf("including %s: %w: %v", ap, ErrNotReady, err))
		}
		agg, err := build(members, want.PaddedSize())
		if err != nil {
			return task.Permanent(fmt.Errorf("including %s: %w", ap, err))
		}
		if !agg.Piece().CID().Equals(ac) {
			return task.Permanent(fmt.Errorf("including %s: %w: its members make %s, the entry says %s", ap, ErrNotReady, agg.Piece().CID(), ac))
		}
		moved := 0
		for lo := 0; lo < len(members); lo += MovesPerTx {
			hi := min(lo+MovesPerTx, len(members))
			var n int
			err := e.Update(ctx, func(tx *dag.Tx) error {
				n = 0
				kt, err := tx.KV(KVPrefix)
				if err != nil {
					return err
				}
				for i := lo; i < hi; i++ {
					raw, err := kt.Get(memberKey(ap.Key, uint64(i)))
					if err != nil {
						return fmt.Errorf("member %d: %w", i, err)
					}
					content, err := cid.Cast(raw)
					if err != nil {
						return task.Permanent(fmt.Errorf("%w: member %d: %v", ErrMember, i, err))
					}
					ok, err := include(tx, inv, piece.Path(tx.Service(), content), agg, i, members[i], ac, ap.Key)
					if err != nil {
						return err
					}
					if ok {
						n++
					}
				}
				return nil
			})
			if err != nil {
				if errors.Is(err, ErrMember) {
					return task.Permanent(fmt.Errorf("including %s: %w", ap, err))
				}
				return fmt.Errorf("including %s: %w", ap, err)
			}
			moved += n
		}
		// Every member is aggregated: the aggregate's included receipt schedules its
		// offer (fx) when the machine makes offers; a re-run gets the stored receipt.
		res, err := e.Transition(ctx, inv, ap, EventIncluded, nil)
		if err != nil {
			return fmt.Errorf("including %s: %w", ap, err)
		}
		if res.Err != nil {
			return task.Permanent(fmt.Errorf("including %s: %w", ap, res.Err))
		}
		logger.DebugContext(ctx, "aggregate included", "path", ap.String(), "aggregate", ac.String(), "pieces", len(members), "moved", moved)
		return nil
	}
}

// include moves the piece entry p, member i of agg (piece CID pc) whose entry key is
// key, to aggregated with a receipt ran = inv, archived as a reply of inv (dag.Tx.Reply:
// a replay of the archive finds where the move was committed), and reports whether it
// did; a member already aggregated in ac is left as is.
func include(tx *dag.Tx, inv *ucan.Token, p dag.Path, agg *commp.Aggregate, i int, pc, ac cid.Cid, key string) (bool, error) {
	e, err := tx.Entry(p)
	if err != nil {
		return false, fmt.Errorf("%w: member %d (%s): %v", ErrMember, i, p, err)
	}
	got, err := piece.Computed(e.State)
	if err != nil || !got.Equals(pc) {
		return false, fmt.Errorf("%w: member %d (%s) is %s, not the piece %s", ErrMember, i, p, e.Status, pc)
	}
	switch e.Status {
	case piece.StatusComputed:
	case piece.StatusAggregated, piece.StatusDealt:
		if in, err := PieceCID(e.State); err == nil && in.Equals(ac) {
			return false, nil
		}
		return false, fmt.Errorf("%w: member %d (%s) is %s in another aggregate", ErrMember, i, p, e.Status)
	default:
		return false, fmt.Errorf("%w: member %d (%s) is %s", ErrMember, i, p, e.Status)
	}
	proof, err := agg.Inclusion(i)
	if err != nil {
		return false, fmt.Errorf("member %d (%s): %w", i, p, err)
	}
	raw, err := proof.MarshalBinary()
	if err != nil {
		return false, fmt.Errorf("member %d (%s): encoding its proof: %w", i, p, err)
	}
	ent, err := tx.Put(p, inv.CID, aggregatedState(pc, ac, key, raw))
	if err != nil {
		return false, fmt.Errorf("member %d (%s): %w", i, p, err)
	}
	if err := tx.Reply(inv, ent.Head); err != nil {
		return false, fmt.Errorf("member %d (%s): %w", i, p, err)
	}
	return true, nil
}

// aggregatedState is the aggregated state of piece pc in the aggregate of piece CID ac
// whose entry key is key.
func aggregatedState(pc, ac cid.Cid, key string, inclusion []byte) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 5, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(piece.StatusAggregated))
		qp.MapEntry(ma, "piece", qp.Link(cidlink.Link{Cid: pc}))
		qp.MapEntry(ma, "aggregate", qp.Link(cidlink.Link{Cid: ac}))
		qp.MapEntry(ma, "aggregateKey", qp.String(key))
		qp.MapEntry(ma, "inclusion", qp.Bytes(inclusion))
	})
	return n
}

// Inclusion returns the inclusion proof of an aggregated (or dealt) piece state.
func Inclusion(state datamodel.Node) (commp.InclusionProof, error) {
	v, err := nodefield.Get(state, "inclusion")
	if err != nil {
		return commp.InclusionProof{}, err
	}
	b, err := v.AsBytes()
	if err != nil {
		return commp.InclusionProof{}, fmt.Errorf("inclusion is not bytes")
	}
	return commp.DecodeInclusionProof(b)
}

// AggregateKey returns the key of the aggregate entry an aggregated (or dealt) piece
// state names; ok is false for states recorded before the key was kept.
func AggregateKey(state datamodel.Node) (key string, ok bool) {
	v, err := nodefield.Get(state, "aggregateKey")
	if err != nil {
		return "", false
	}
	key, err = v.AsString()
	return key, err == nil && key != ""
}
