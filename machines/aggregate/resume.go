package aggregate

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

const (
	// ResumeCommand is the command of the self-issued invocation under which
	// ResumeOffers schedules a new offer for a ready aggregate (the ran of that receipt).
	ResumeCommand = "/aggregate/resume"
	// EventResume: a ready aggregate whose offer task is missing, failed or finished
	// without an acknowledged offer gets a receipt (of the same state) whose fx is a new
	// offer task. Only with offers on; otherwise, and on any other status, nothing
	// changes.
	EventResume = "resume"
	// resumePage is how many ready aggregates ResumeOffers reads at once.
	resumePage = 100
)

// ResumeOffers schedules a new offer task for every ready aggregate of e whose offers
// are not under way: no offer task was ever scheduled (it became ready while the service
// ran without a broker), or its last one failed (refused, or its attempts ran out
// before KeepTrying) or is gone. A ready aggregate whose last offer task is queued or
// running is left to it. It returns how many it resumed. serve --broker calls it at
// start, before its task runner runs; an aggregate offered twice is still offered once
// in the end: the first acknowledged offer moves it to deal_pending and later offer
// tasks find it no longer ready. Without offers (WithOffers) it does nothing.
func (m *Machine) ResumeOffers(ctx context.Context, e *dag.Engine) (int, error) {
	if !m.offers {
		return 0, nil
	}
	n := 0
	q := dag.Query{Limit: resumePage, Status: StatusReady}
	for {
		page, err := e.SelectPage(ctx, dag.Path{Subject: e.Service(), Collection: Name}, q)
		if err != nil {
			return n, fmt.Errorf("resuming offers: %w", err)
		}
		for _, ent := range page.Entries {
			active, err := offerActive(ctx, e, ent)
			if err != nil {
				return n, fmt.Errorf("resuming the offer of %s: %w", ent.Path, err)
			}
			if active {
				continue
			}
			args, err := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "path", qp.String(ent.Path.String()))
			})
			if err != nil {
				return n, err
			}
			inv, err := e.Invoke(ResumeCommand, args)
			if err != nil {
				return n, fmt.Errorf("resuming the offer of %s: %w", ent.Path, err)
			}
			res, err := e.Transition(ctx, inv, ent.Path, EventResume, nil)
			if err == nil {
				err = res.Err
			}
			if err != nil {
				return n, fmt.Errorf("resuming the offer of %s: %w", ent.Path, err)
			}
			n++
		}
		if page.Cursor == "" {
			return n, nil
		}
		q.Cursor = page.Cursor
	}
}

// errFound stops a receipt chain walk.
var errFound = errors.New("found")

// offerActive reports whether the last offer task scheduled for the ready aggregate ent
// (the newest fx of its receipts that is an OfferCommand task) is queued or running.
func offerActive(ctx context.Context, e *dag.Engine, ent *dag.Entry) (bool, error) {
	var last cid.Cid
	err := e.Chain(ctx, ent.Head, func(_ *ucan.Token, r *receipts.Receipt) error {
		for i := len(r.Fx) - 1; i >= 0; i-- {
			inv, err := e.Receipt(ctx, r.Fx[i])
			if err != nil || inv.Invocation == nil || inv.Invocation.Command != OfferCommand {
				continue
			}
			last = r.Fx[i]
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return false, err
	}
	if !last.Defined() {
		return false, nil
	}
	t, err := e.Entry(ctx, task.Path(e.Service(), last))
	if errors.Is(err, dag.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return t.Status == task.StatusQueued || t.Status == task.StatusRunning, nil
}
