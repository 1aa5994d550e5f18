package aggregate

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/internal/nodefield"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/ucan"
)

// Commands of the tasks and invocations of the deal part of the machine.
const (
	// OfferCommand is the command of the task that offers a ready aggregate to the
	// broker (OfferHandler).
	OfferCommand = "/aggregate/offer"
	// DealtCommand is the command of the task that moves the members of an aggregate
	// with a deal to dealt (DealtHandler).
	DealtCommand = "/aggregate/dealt"
	// RequeueCommand is the command of the task that puts the members of a failed
	// aggregate back into aggregation (Machine.RequeueHandler).
	RequeueCommand = "/aggregate/requeue"
	// ReportCommand is the command of the self-issued invocation that records a
	// broker's report (Report): the ran of the deal_processed or failed receipt.
	ReportCommand = "/aggregate/report"
)

// Events of Engine.Transition on aggregate entries.
const (
	// EventIncluded: the include task moved every member of a ready aggregate to
	// aggregated. With offers on, the aggregate (still ready) gets a receipt whose fx is
	// the offer task it schedules; otherwise nothing changes.
	EventIncluded = "included"
	// EventOffered: the broker acknowledged the offer: ready → deal_pending.
	EventOffered = "offered"
	// EventDeal: the broker reported a deal ({deal}): deal_pending → deal_processed.
	EventDeal = "deal"
	// EventFailed: the broker reported a failure ({reason}): deal_pending → failed.
	EventFailed = "failed"
)

// Transition applies the events above; see the package documentation. An event that
// already happened with the same data changes nothing; an event that does not fit the
// entry's status is dag.ErrInvalidTransition.
func (m *Machine) Transition(tx *dag.Tx, e *dag.Entry, event string, data datamodel.Node) (datamodel.Node, error) {
	switch event {
	case EventIncluded:
		if e.Status != StatusReady || !m.offers {
			return nil, nil
		}
		t, err := task.Schedule(tx, task.Task{Cmd: OfferCommand, Path: e.Path})
		if err != nil {
			return nil, fmt.Errorf("offering %s: %w", e.Path, err)
		}
		tx.Effect(t)
		return e.State, nil
	case EventResume:
		if e.Status != StatusReady || !m.offers {
			return nil, nil
		}
		t, err := task.Schedule(tx, task.Task{Cmd: OfferCommand, Path: e.Path})
		if err != nil {
			return nil, fmt.Errorf("resuming the offer of %s: %w", e.Path, err)
		}
		tx.Effect(t)
		return e.State, nil
	case EventOffered:
		switch e.Status {
		case StatusReady:
			return withStatus(e.State, StatusDealPending, nil)
		case StatusDealPending, StatusDealProcessed, StatusFailed:
			return nil, nil
		}
	case EventDeal:
		deal, err := nodefield.Get(data, "deal")
		if err != nil {
			return nil, dag.Failf(dag.ErrInvalidValue.Name, "deal for %s: %v", e.Path, err)
		}
		switch e.Status {
		case StatusDealPending:
			t, err := task.Schedule(tx, task.Task{Cmd: DealtCommand, Path: e.Path})
			if err != nil {
				return nil, fmt.Errorf("deal for %s: %w", e.Path, err)
			}
			tx.Effect(t)
			if err := metrics.Add(tx, tx.Service(), metrics.AggregateDealTotal, 1); err != nil {
				return nil, fmt.Errorf("deal for %s: %w", e.Path, err)
			}
			return withStatus(e.State, StatusDealProcessed, deal)
		case StatusDealProcessed:
			if have, err := nodefield.Get(e.State, "deal"); err == nil && sameMap(have, deal) {
				return nil, nil
			}
		}
	case EventFailed:
		reason, err := nodefield.Get(data, "reason")
		if err != nil {
			return nil, dag.Failf(dag.ErrInvalidValue.Name, "failure of %s: %v", e.Path, err)
		}
		r, err := reason.AsString()
		if err != nil || r == "" {
			return nil, dag.Failf(dag.ErrInvalidValue.Name, "failure of %s: the reason is not a string", e.Path)
		}
		switch e.Status {
		case StatusDealPending:
			t, err := task.Schedule(tx, task.Task{Cmd: RequeueCommand, Path: e.Path})
			if err != nil {
				return nil, fmt.Errorf("failure of %s: %w", e.Path, err)
			}
			tx.Effect(t)
			return failedState(r), nil
		case StatusFailed:
			if have, err := nodefield.Get(e.State, "reason"); err == nil {
				if s, _ := have.AsString(); s == r {
					return nil, nil
				}
			}
		}
	default:
		return nil, fmt.Errorf("%w: %s has no event %q", dag.ErrInvalidTransition, e.Path, event)
	}
	return nil, fmt.Errorf("%w: %s is %s: no %s", dag.ErrInvalidTransition, e.Path, e.Status, event)
}

// withStatus returns the ready-like state s ({aggregate, pieces, size}) with status, and
// deal if not nil.
func withStatus(s datamodel.Node, status string, deal datamodel.Node) (datamodel.Node, error) {
	ac, err := PieceCID(s)
	if err != nil {
		return nil, err
	}
	ms, err := Members(s)
	if err != nil {
		return nil, err
	}
	sz, err := nodefield.Get(s, "size")
	if err != nil {
		return nil, err
	}
	size, err := sz.AsInt()
	if err != nil {
		return nil, fmt.Errorf("size is not an integer")
	}
	return qp.BuildMap(basicnode.Prototype.Map, 5, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(status))
		qp.MapEntry(ma, "aggregate", qp.Link(cidlink.Link{Cid: ac}))
		qp.MapEntry(ma, "pieces", linkList(ms))
		qp.MapEntry(ma, "size", qp.Int(size))
		if deal != nil {
			qp.MapEntry(ma, "deal", qp.Node(deal))
		}
	})
}

// sameMap reports whether the maps a and b have the same keys with deeply equal values,
// whatever their order (a stored state's keys are in canonical order).
func sameMap(a, b datamodel.Node) bool {
	if a.Kind() != datamodel.Kind_Map || b.Kind() != datamodel.Kind_Map || a.Length() != b.Length() {
		return datamodel.DeepEqual(a, b)
	}
	for it := a.MapIterator(); !it.Done(); {
		k, va, err := it.Next()
		if err != nil {
			return false
		}
		ks, err := k.AsString()
		if err != nil {
			return false
		}
		vb, err := b.LookupByString(ks)
		if err != nil || !datamodel.DeepEqual(va, vb) {
			return false
		}
	}
	return true
}

func failedState(reason string) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(StatusFailed))
		qp.MapEntry(ma, "reason", qp.String(reason))
	})
	return n
}

// Lookup returns the path of the aggregate whose piece CID is agg (indexed when it
// became ready); ErrUnknownAggregate (wrapped) if none.
func Lookup(ctx context.Context, e *dag.Engine, agg cid.Cid) (dag.Path, error) {
	var key string
	err := e.View(ctx, func(tx *dag.Tx) error {
		kt, err := tx.KV(KVPrefix)
		if err != nil {
			return err
		}
		v, err := kt.Get(cidKey(agg))
		if errors.Is(err, kv.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrUnknownAggregate, agg)
		}
		if err != nil {
			return err
		}
		key = string(v)
		return nil
	})
	if err != nil {
		return dag.Path{}, fmt.Errorf("finding aggregate %s: %w", agg, err)
	}
	return Path(e.Service(), key), nil
}

// Deal is a deal a broker reported for an aggregate (docs/broker.md §3).
type Deal struct {
	Provider string
	DealID   uint64
	Expires  int64
}

// Node is the deal as recorded in deal_processed and dealt states:
// {provider, dealId, expires}.
func (d Deal) Node() datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
		// In DAG-CBOR's canonical key order, the order a stored state has.
		qp.MapEntry(ma, "dealId", qp.Int(int64(d.DealID)))
		qp.MapEntry(ma, "expires", qp.Int(d.Expires))
		qp.MapEntry(ma, "provider", qp.String(d.Provider))
	})
	return n
}

// Report records a broker's report on the aggregate whose piece CID is agg: a deal
// (deal_pending → deal_processed{deal}, scheduling DealtCommand) when deal is not nil,
// else the failure reason (deal_pending → failed{reason}, scheduling RequeueCommand).
// The receipt's ran is a self-issued ReportCommand invocation with args {path, deal} or
// {path, reason}. A ready aggregate (its offer acknowledged by the broker but not yet
// recorded: the report came first) is moved to deal_pending first, under another such
// invocation. The same report again changes nothing (nil); ErrUnknownAggregate for an
// aggregate agg names none, ErrConflict for one whose state does not take the report.
func Report(ctx context.Context, e *dag.Engine, agg cid.Cid, deal *Deal, reason string) error {
	ap, err := Lookup(ctx, e, agg)
	if err != nil {
		return err
	}
	event := EventFailed
	data, err := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "path", qp.String(ap.String()))
		if deal != nil {
			event = EventDeal
			qp.MapEntry(ma, "deal", qp.Node(deal.Node()))
		} else {
			qp.MapEntry(ma, "reason", qp.String(reason))
		}
	})
	if err != nil {
		return fmt.Errorf("report for %s: %w", agg, err)
	}
	// A broker may report before the service has recorded its acknowledgement of the
	// offer (the report races the offer task's transition). A report whose URL is
	// signed (the caller checked it) comes from a broker that holds the offer, so a
	// ready aggregate is first moved to deal_pending under an invocation of its own.
	cur, err := e.Entry(ctx, ap)
	if err != nil {
		return fmt.Errorf("report for %s (%s): %w", agg, ap, err)
	}
	if cur.Status == StatusReady {
		inv, err := e.Invoke(ReportCommand, data)
		if err != nil {
			return fmt.Errorf("report for %s: %w", agg, err)
		}
		res, err := e.Transition(ctx, inv, ap, EventOffered, nil)
		if err != nil {
			return fmt.Errorf("report for %s (%s): recording the offer: %w", agg, ap, err)
		}
		if res.Err != nil {
			return fmt.Errorf("report for %s (%s): recording the offer: %w", agg, ap, res.Err)
		}
	}
	inv, err := e.Invoke(ReportCommand, data)
	if err != nil {
		return fmt.Errorf("report for %s: %w", agg, err)
	}
	res, err := e.Transition(ctx, inv, ap, event, data)
	if err != nil {
		return fmt.Errorf("report for %s (%s): %w", agg, ap, err)
	}
	if res.Err != nil {
		if errors.Is(res.Err, dag.ErrInvalidTransition) {
			return fmt.Errorf("%w: report for %s (%s): %v", ErrConflict, agg, ap, res.Err)
		}
		return fmt.Errorf("report for %s (%s): %w", agg, ap, res.Err)
	}
	return nil
}

// memberTask is what the dealt and requeue handlers share: the task's aggregate entry
// and a walk over its members' piece entries in transactions of at most MovesPerTx.
func memberTask(ctx context.Context, e *dag.Engine, inv *ucan.Token, what string) (dag.Path, *dag.Entry, error) {
	if inv == nil || inv.Invocation == nil {
		return dag.Path{}, nil, task.Permanent(fmt.Errorf("%w: %s task without an invocation", task.ErrInvalidTask, what))
	}
	ap, err := task.PathOf(inv.Invocation.Args)
	if err != nil {
		return dag.Path{}, nil, task.Permanent(err)
	}
	if ap.Collection != Name || ap.Subject != e.Service() {
		return dag.Path{}, nil, task.Permanent(fmt.Errorf("%w: %s %s: not an aggregate of the service", task.ErrInvalidTask, what, ap))
	}
	cur, err := e.Entry(ctx, ap)
	if errors.Is(err, dag.ErrNotFound) {
		return dag.Path{}, nil, task.Permanent(fmt.Errorf("%s %s: %w: no entry", what, ap, ErrMember))
	}
	if err != nil {
		return dag.Path{}, nil, fmt.Errorf("%s %s: reading the entry: %w", what, ap, err)
	}
	return ap, cur, nil
}

// eachMember calls fn in transactions of at most MovesPerTx members for every member
// (index, CAR CID) of the aggregate key, in order.
func eachMember(ctx context.Context, e *dag.Engine, key string, n int, fn func(tx *dag.Tx, kt kv.Tx, i int, content cid.Cid) error) error {
	for lo := 0; lo < n; lo += MovesPerTx {
		hi := min(lo+MovesPerTx, n)
		err := e.Update(ctx, func(tx *dag.Tx) error {
			kt, err := tx.KV(KVPrefix)
			if err != nil {
				return err
			}
			for i := lo; i < hi; i++ {
				raw, err := kt.Get(memberKey(key, uint64(i)))
				if err != nil {
					return fmt.Errorf("member %d: %w", i, err)
				}
				content, err := cid.Cast(raw)
				if err != nil {
					return task.Permanent(fmt.Errorf("%w: member %d: %v", ErrMember, i, err))
				}
				if err := fn(tx, kt, i, content); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// memberCount is the number of members of the aggregate key, from its member keys.
func memberCount(ctx context.Context, e *dag.Engine, key string) (int, error) {
	n := 0
	err := e.View(ctx, func(tx *dag.Tx) error {
		kt, err := tx.KV(KVPrefix)
		if err != nil {
			return err
		}
		start := []byte(KVPrefix + "member/" + key + "/")
		return kt.Scan(kv.ScanOptions{Start: start, End: prefixEnd(start)}, func(_, _ []byte) error {
			n++
			return nil
		})
	})
	return n, err
}

// DealtHandler returns the handler of dealt tasks: every member piece entry of the
// aggregate (deal_processed) aggregated in it moves to dealt{piece, aggregate, aggregateKey, inclusion,
// deal} with a system write whose ran is the task's invocation, archived as a reply of
// it (dag.Tx.Reply), at most MovesPerTx per transaction; members already dealt in it are
// skipped.
func DealtHandler(e *dag.Engine) task.Handler {
	return func(ctx context.Context, inv *ucan.Token) error {
		ap, cur, err := memberTask(ctx, e, inv, "dealing")
		if err != nil {
			return err
		}
		if cur.Status != StatusDealProcessed {
			return task.Permanent(fmt.Errorf("dealing %s: %w: it is %s", ap, ErrMember, cur.Status))
		}
		ac, err := PieceCID(cur.State)
		if err != nil {
			return task.Permanent(fmt.Errorf("dealing %s: %w: %v", ap, ErrMember, err))
		}
		deal, err := nodefield.Get(cur.State, "deal")
		if err != nil {
			return task.Permanent(fmt.Errorf("dealing %s: %w: %v", ap, ErrMember, err))
		}
		ms, err := Members(cur.State)
		if err != nil {
			return task.Permanent(fmt.Errorf("dealing %s: %w: %v", ap, ErrMember, err))
		}
		err = eachMember(ctx, e, ap.Key, len(ms), func(tx *dag.Tx, _ kv.Tx, i int, content cid.Cid) error {
			p := piece.Path(tx.Service(), content)
			pe, err := tx.Entry(p)
			if err != nil {
				return task.Permanent(fmt.Errorf("%w: member %d (%s): %v", ErrMember, i, p, err))
			}
			in, err := PieceCID(pe.State)
			if err != nil || !in.Equals(ac) {
				return task.Permanent(fmt.Errorf("%w: member %d (%s) is %s, not in %s", ErrMember, i, p, pe.Status, ac))
			}
			switch pe.Status {
			case piece.StatusDealt:
				return nil
			case piece.StatusAggregated:
			default:
				return task.Permanent(fmt.Errorf("%w: member %d (%s) is %s", ErrMember, i, p, pe.Status))
			}
			pc, err := piece.Computed(pe.State)
			if err != nil {
				return task.Permanent(fmt.Errorf("%w: member %d (%s): %v", ErrMember, i, p, err))
			}
			inclusion, err := nodefield.Get(pe.State, "inclusion")
			if err != nil {
				return task.Permanent(fmt.Errorf("%w: member %d (%s): %v", ErrMember, i, p, err))
			}
			st, _ := qp.BuildMap(basicnode.Prototype.Map, 6, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, dag.StatusKey, qp.String(piece.StatusDealt))
				qp.MapEntry(ma, "piece", qp.Link(cidlink.Link{Cid: pc}))
				qp.MapEntry(ma, "aggregate", qp.Link(cidlink.Link{Cid: ac}))
				qp.MapEntry(ma, "aggregateKey", qp.String(ap.Key))
				qp.MapEntry(ma, "inclusion", qp.Node(inclusion))
				qp.MapEntry(ma, "deal", qp.Node(deal))
			})
			ent, err := tx.Put(p, inv.CID, st)
			if err != nil {
				return fmt.Errorf("member %d (%s): %w", i, p, err)
			}
			// Archived as a reply of the task (as include's moves): a replay finds
			// where, and when, each move was committed.
			if err := tx.Reply(inv, ent.Head); err != nil {
				return fmt.Errorf("member %d (%s): %w", i, p, err)
			}
			return nil
		})
		if err != nil {
			if errors.Is(err, ErrMember) {
				return task.Permanent(fmt.Errorf("dealing %s: %w", ap, err))
			}
			return fmt.Errorf("dealing %s: %w", ap, err)
		}
		return nil
	}
}

// RequeueHandler returns the handler of requeue tasks: every member of the failed
// aggregate whose piece entry is still aggregated in it goes back to computed{piece}
// (a system write, ran: the task's invocation, archived as a reply of it) and, in the
// same transaction, joins an aggregate again as a newly computed piece does (Add), in
// member order, at most MovesPerTx per transaction. Members already requeued are
// skipped.
func (m *Machine) RequeueHandler(e *dag.Engine) task.Handler {
	return func(ctx context.Context, inv *ucan.Token) error {
		ap, cur, err := memberTask(ctx, e, inv, "requeueing")
		if err != nil {
			return err
		}
		if cur.Status != StatusFailed {
			return task.Permanent(fmt.Errorf("requeueing %s: %w: it is %s", ap, ErrMember, cur.Status))
		}
		n, err := memberCount(ctx, e, ap.Key)
		if err != nil {
			return fmt.Errorf("requeueing %s: %w", ap, err)
		}
		err = eachMember(ctx, e, ap.Key, n, func(tx *dag.Tx, kt kv.Tx, i int, content cid.Cid) error {
			k, err := kt.Get(pieceKey(content))
			if errors.Is(err, kv.ErrNotFound) || (err == nil && string(k) != ap.Key) {
				return nil // requeued before
			}
			if err != nil {
				return fmt.Errorf("member %d: %w", i, err)
			}
			p := piece.Path(tx.Service(), content)
			pe, err := tx.Entry(p)
			if err != nil {
				return task.Permanent(fmt.Errorf("%w: member %d (%s): %v", ErrMember, i, p, err))
			}
			if pe.Status != piece.StatusAggregated && pe.Status != piece.StatusComputed {
				return task.Permanent(fmt.Errorf("%w: member %d (%s) is %s", ErrMember, i, p, pe.Status))
			}
			pc, err := piece.Computed(pe.State)
			if err != nil {
				return task.Permanent(fmt.Errorf("%w: member %d (%s): %v", ErrMember, i, p, err))
			}
			if pe.Status == piece.StatusAggregated {
				st, _ := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
					qp.MapEntry(ma, dag.StatusKey, qp.String(piece.StatusComputed))
					qp.MapEntry(ma, "piece", qp.Link(cidlink.Link{Cid: pc}))
				})
				ent, err := tx.Put(p, inv.CID, st)
				if err != nil {
					return fmt.Errorf("member %d (%s): %w", i, p, err)
				}
				if err := tx.Reply(inv, ent.Head); err != nil {
					return fmt.Errorf("member %d (%s): %w", i, p, err)
				}
			}
			if err := kt.Delete(pieceKey(content)); err != nil {
				return fmt.Errorf("member %d (%s): %w", i, p, err)
			}
			return m.add(tx, inv.CID, p, pc)
		})
		if err != nil {
			if errors.Is(err, ErrMember) {
				return task.Permanent(fmt.Errorf("requeueing %s: %w", ap, err))
			}
			return fmt.Errorf("requeueing %s: %w", ap, err)
		}
		return nil
	}
}
