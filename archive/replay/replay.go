package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"golang.org/x/sync/errgroup"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/container"
)

// Window bounds the steps Run has in flight at once: checked together (those of one
// time) and committed in order, many in one transaction of the engine. When Window
// writes are in flight, the next starts as soon as the oldest is done.
const Window = 256

// LoadChunk is how many archived messages Load decodes at once, in parallel on every
// core, before it adds them to the plan in archive order (it bounds the undecoded
// messages Load holds).
const LoadChunk = 512

// Runner runs the client invocations again: *ops.Ops.
type Runner interface {
	NewBudget() *ops.Budget
	Check(inv *ucan.Token, proofs ucan.Loader, b *ops.Budget) *ops.Checked
	ExecWith(ctx context.Context, c *ops.Checked, msg cid.Cid, opts ...dag.OpOption) (ops.Outcome, error)
}

// Store is the store being rebuilt: *dag.Engine.
type Store interface {
	// RecordReply records which reply message carried the receipts of invs.
	RecordReply(ctx context.Context, msg cid.Cid, invs []cid.Cid, opts ...dag.OpOption) error
	// LastSeq returns the last commit sequence of the store: where a replay that was
	// stopped resumes.
	LastSeq(ctx context.Context) (uint64, error)
}

// Handler runs a self-issued invocation of the service found in the archive (st.Inv: a
// delivery, a rejection, a task or the task runner's write) as the service ran it, and
// returns the CID of the receipt it got. st.Archived is the receipt the archive holds
// (nil for a placed step), for what the original run decided that the invocation does
// not say (e.g. whether the block index was written with a delivery).
type Handler func(ctx context.Context, st *Step) (cid.Cid, error)

// Placer says where a self-issued invocation that has no archived reply goes in commit
// order: the sequence and time at which what it caused was committed (a /metrics/add
// invocation names them in its args). Placed steps run with their Handler.
type Placer func(inv *ucan.Token) (seq uint64, ts int64, err error)

// Options configure Run. Runner, Store and SetClock are required.
type Options struct {
	Runner Runner
	Store  Store
	// SetClock sets the time the engine and Runner see to the original receipt's time
	// before each step.
	SetClock func(time.Time)
	// Handlers run the self-issued invocations that have an archived reply (or a
	// Placer), by command; those of other commands are not run (Result.Unhandled).
	Handlers map[string]Handler
	// Again, when not nil, says whether the Handler of a self-issued step may run again
	// on a store that holds what it wrote, writing only what is missing (a task's: the
	// task runner runs each at least once). A replay resumed where such a step's last
	// archived write is the store's last commit runs it again: it may have written more
	// after that write, in transactions that took no sequence (an aggregate's include
	// task ends with one when its final transition changes nothing), which the store's
	// last sequence cannot tell. Nil: no step runs again but a paced one not done.
	Again func(st *Step) bool
	// Alone, when not nil, is asked about each client write: true runs it alone, after
	// the writes before it have committed (as reads are), with Before called just
	// before and After just after, so that what Before sets for it (a clock of a
	// machine's own, say) holds while it runs and no other step sees it.
	Alone  func(st *Step) bool
	Before func(st *Step)
	After  func(st *Step)
	// Logger receives progress lines; nil discards.
	Logger *slog.Logger
	// OnStep, when not nil, is called after each step is accounted for, with its index
	// into Plan.Steps, from Run's goroutine (progress reports; tests). Steps are accounted
	// for in plan order, except a step paced to a later place (Step.Paced), which may
	// come after steps that follow it.
	OnStep func(i int)
}

// Step is one invocation to run again, with what the archive says of its original run.
type Step struct {
	// Msg is the request message the invocation came in; Reply the message that carried
	// its receipt.
	Msg, Reply cid.Cid
	Inv        *ucan.Token
	Proofs     ucan.Proofs
	// Receipt is the CID of the receipt in the archived reply (undefined for a placed
	// step, see Placer); TS and Seq its meta.
	Receipt cid.Cid
	// Archived is that receipt (nil for a placed step).
	Archived *receipts.Receipt
	TS       int64
	Seq      uint64
	// Change is set when the receipt is the new head the invocation wrote (its own
	// commit sequence); otherwise it was issued after Seq was committed (an error, a
	// read, an unchanged entry, a repeat, a refusal).
	Change bool
	// Self is set for an invocation the service issued itself.
	Self bool
	// Stamps are the meta of every archived receipt the invocation ran (a change it
	// committed), in commit order: a task of the service that wrote in several
	// transactions has one per write, each with the time of its transaction.
	Stamps []Stamp
}

// Stamp is the meta of an archived receipt: its commit sequence and time.
type Stamp struct {
	Seq uint64
	TS  int64
}

// Plan is the steps of a replay, in the original commit order.
type Plan struct {
	Steps []Step
	// Replies maps each reply message to the invocations whose receipts it carried.
	Replies map[cid.Cid][]cid.Cid
	// Unanswered are invocations of archived requests without an archived reply: the
	// service ran or refused them but the archive does not say when (a crash before the
	// reply was archived, or self-issued invocations the operations that issue them
	// recreate when replayed).
	Unanswered []*ucan.Token
	// Messages is how many archived messages the plan was made from.
	Messages int
	// Self holds the service's own archived invocations by CID (those a receipt's fx
	// names, say).
	Self map[cid.Cid]*ucan.Token
}

// requestMsg is an archived request: its invocations and proofs.
type requestMsg struct {
	cid    cid.Cid
	invs   []*ucan.Token
	proofs ucan.Proofs
}

// answer is what a reply says of one invocation.
type answer struct {
	reply   cid.Cid
	receipt cid.Cid
	r       *receipts.Receipt
}

// Load reads every message of the archive in blobs (archive.Scan) and returns the plan
// of a replay: each invocation of each request message paired with its receipt from the
// reply messages, ordered by commit sequence. service is the service's DID. A corrupt
// message (archive.ErrCorrupt), or one that is not an agent message or carries a receipt
// that does not decode or is not signed by service (ErrMalformed), is an error naming it:
// the first in Scan's order, though messages are decoded LoadChunk at a time in parallel.
//
// place, by command, places the service's own invocations that have no reply (nil: none
// is placed; they are listed in Plan.Unanswered).
func Load(ctx context.Context, blobs blob.Store, service string, place map[string]Placer) (*Plan, error) {
	var reqs []*requestMsg
	answers := map[cid.Cid]answer{}
	stamps := map[cid.Cid][]Stamp{}
	stamped := map[cid.Cid]bool{}
	plan := &Plan{Replies: map[cid.Cid][]cid.Cid{}, Self: map[cid.Cid]*ucan.Token{}}
	seen := map[cid.Cid]bool{}
	// apply adds one decoded message to the plan, in scan order.
	apply := func(d *decodedMsg) error {
		if d.err != nil {
			return d.err
		}
		if d.req != nil {
			reqs = append(reqs, d.req)
			return nil
		}
		for _, rc := range d.receipts {
			a := answer{reply: d.msg, receipt: rc.receipt, r: rc.r}
			if rc.r.Ran.Equals(rc.invocation) && !stamped[rc.receipt] {
				stamped[rc.receipt] = true
				stamps[rc.invocation] = append(stamps[rc.invocation], Stamp{Seq: rc.r.Seq, TS: rc.r.TS})
			}
			if old, ok := answers[rc.invocation]; !ok || later(a, old, rc.invocation) {
				answers[rc.invocation] = a
			}
			plan.Replies[d.msg] = append(plan.Replies[d.msg], rc.invocation)
		}
		return nil
	}
	// The messages are decoded LoadChunk at a time on every core, and added to the plan
	// in the order Scan found them (the first corrupt one is the one named).
	chunk := make([]decodedMsg, 0, LoadChunk)
	flush := func() error {
		decodeAll(chunk, service)
		for i := range chunk {
			if err := apply(&chunk[i]); err != nil {
				return err
			}
		}
		chunk = chunk[:0]
		return nil
	}
	err := archive.Scan(ctx, blobs, func(msg cid.Cid, data []byte) error {
		if seen[msg] {
			return nil
		}
		seen[msg] = true
		plan.Messages++
		chunk = append(chunk, decodedMsg{msg: msg, data: data})
		if len(chunk) < LoadChunk {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, err
	}
	done := map[cid.Cid]bool{}
	for _, req := range reqs {
		for _, inv := range req.invs {
			if inv.Invocation.Issuer == service {
				plan.Self[inv.CID] = inv
			}
			if done[inv.CID] {
				continue // the same invocation sent again: the engine answered from its result
			}
			a, ok := answers[inv.CID]
			if !ok {
				if p := place[inv.Invocation.Command]; p != nil && inv.Invocation.Issuer == service {
					seq, ts, err := p(inv)
					if err != nil {
						return nil, fmt.Errorf("%w: archived message %s: %w", ErrMalformed, req.cid, err)
					}
					done[inv.CID] = true
					plan.Steps = append(plan.Steps, Step{Msg: req.cid, Inv: inv, Proofs: req.proofs, TS: ts, Seq: seq, Change: true, Self: true})
					continue
				}
				plan.Unanswered = append(plan.Unanswered, inv)
				continue
			}
			done[inv.CID] = true
			in := inv.Invocation
			write := in.Command == ops.CmdPut || in.Command == ops.CmdRemove || in.Issuer == service
			plan.Steps = append(plan.Steps, Step{
				Msg: req.cid, Reply: a.reply, Inv: inv, Proofs: req.proofs,
				Receipt: a.receipt, Archived: a.r, TS: a.r.TS, Seq: a.r.Seq,
				Change: write && a.r.Out.Ok != nil && a.r.Ran.Equals(inv.CID),
				Self:   in.Issuer == service,
				Stamps: stamps[inv.CID],
			})
		}
	}
	for i := range plan.Steps {
		st := &plan.Steps[i]
		sort.Slice(st.Stamps, func(i, j int) bool { return st.Stamps[i].Seq < st.Stamps[j].Seq })
		if st.Paced() {
			// A task that wrote in several transactions starts where its first write
			// was committed; Run paces the others to their places.
			st.Seq, st.TS = st.Stamps[0].Seq, st.Stamps[0].TS
		}
	}
	sort.SliceStable(plan.Steps, func(i, j int) bool { return less(&plan.Steps[i], &plan.Steps[j]) })
	sort.Slice(plan.Unanswered, func(i, j int) bool { return plan.Unanswered[i].CID.KeyString() < plan.Unanswered[j].CID.KeyString() })
	return plan, nil
}

// later reports whether a is a later answer to the invocation inv than b. One invocation
// gets several replies when its message was sent again (the same receipt) and when a task
// of the service made several transitions with it (an aggregate's inclusion moves each
// member piece; a transition that found nothing to do answers with the entry's head):
// the step goes where its last change was committed, so that everything it did before
// is done when it runs again.
func later(a, b answer, inv cid.Cid) bool {
	if a.r.Seq != b.r.Seq {
		return a.r.Seq > b.r.Seq
	}
	ac, bc := a.r.Ran.Equals(inv), b.r.Ran.Equals(inv)
	if ac != bc {
		return ac
	}
	if a.r.TS != b.r.TS {
		return a.r.TS > b.r.TS
	}
	return a.receipt.KeyString() > b.receipt.KeyString()
}

// less orders steps as they were committed: by sequence, a step that wrote sequence s
// before those issued after s was committed, then by time, then by invocation CID (steps
// that changed nothing commute; the tie-break only makes the order the same every run).
func less(a, b *Step) bool {
	if a.Seq != b.Seq {
		return a.Seq < b.Seq
	}
	if a.Change != b.Change {
		return a.Change
	}
	if a.TS != b.TS {
		return a.TS < b.TS
	}
	return a.Inv.CID.KeyString() < b.Inv.CID.KeyString()
}

// decodedMsg is an archived message as Load decodes it: a request, or the receipts of a
// reply (each checked to be the service's), or the error naming it.
type decodedMsg struct {
	msg      cid.Cid
	data     []byte
	req      *requestMsg
	receipts []decodedReceipt
	err      error
}

// decodedReceipt is a receipt of an archived reply, with the invocation the reply says it
// answers.
type decodedReceipt struct {
	invocation, receipt cid.Cid
	r                   *receipts.Receipt
}

// decodeAll decodes the messages of chunk in parallel (every core), each into its own
// element; the messages' bytes are dropped once decoded.
func decodeAll(chunk []decodedMsg, service string) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(chunk), runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for k := int(next.Add(1)) - 1; k < len(chunk); k = int(next.Add(1)) - 1 {
				chunk[k].decode(service)
				chunk[k].data = nil
			}
		})
	}
	wg.Wait()
}

// decode decodes d.data: a request into d.req, a reply's receipts into d.receipts, or
// what is wrong with the message into d.err.
func (d *decodedMsg) decode(service string) {
	req, reply, err := decode(d.msg, d.data)
	if err != nil {
		d.err = fmt.Errorf("%w: archived message %s: %w", ErrMalformed, d.msg, err)
		return
	}
	if req != nil {
		d.req = req
		return
	}
	idx := reply.Index()
	d.receipts = make([]decodedReceipt, 0, len(reply.Receipts))
	for _, rc := range reply.Receipts {
		tok, r, err := receipts.Decode(idx[rc.Receipt])
		if err != nil {
			d.err = fmt.Errorf("%w: archived reply %s: receipt %s: %w", ErrMalformed, d.msg, rc.Receipt, err)
			return
		}
		if tok.Issuer() != service {
			d.err = fmt.Errorf("%w: archived reply %s: receipt %s is signed by %s, not the service %s", ErrMalformed, d.msg, rc.Receipt, tok.Issuer(), service)
			return
		}
		d.receipts = append(d.receipts, decodedReceipt{invocation: rc.Invocation, receipt: rc.Receipt, r: r})
	}
}

// decode returns an archived message as a request (invocations and proofs) or a reply.
func decode(msg cid.Cid, data []byte) (*requestMsg, *message.Message, error) {
	var raws [][]byte
	var roots []cid.Cid
	switch msg.Type() {
	case message.CodecCAR:
		m, err := message.Decode(data, message.ReplyLimits)
		if err != nil {
			return nil, nil, err
		}
		if len(m.Invocations) == 0 {
			return nil, m, nil
		}
		roots = m.Invocations
		for _, b := range m.Blocks {
			raws = append(raws, b.Data)
		}
	case message.CodecRaw:
		toks, err := container.Decode(data)
		if err != nil {
			return nil, nil, err
		}
		raws = toks
	default:
		return nil, nil, fmt.Errorf("codec 0x%x is neither a CAR nor a container", msg.Type())
	}
	req := &requestMsg{cid: msg, proofs: ucan.Proofs{}}
	byCID := map[cid.Cid]*ucan.Token{}
	var order []*ucan.Token
	for _, raw := range raws {
		tok, err := ucan.Decode(raw)
		if err != nil {
			// A block that is not a token (a receipt's page in a reply, say) is not ours.
			continue
		}
		if _, dup := byCID[tok.CID]; dup {
			continue
		}
		byCID[tok.CID] = tok
		order = append(order, tok)
		if tok.Delegation != nil {
			req.proofs[tok.CID] = tok
		}
	}
	if roots != nil {
		for _, c := range roots {
			tok := byCID[c]
			if tok == nil || tok.Invocation == nil {
				return nil, nil, fmt.Errorf("invocation %s is not an invocation token of the message", c)
			}
			req.invs = append(req.invs, tok)
		}
	} else {
		for _, tok := range order {
			if tok.Invocation != nil {
				req.invs = append(req.invs, tok)
			}
		}
	}
	return req, nil, nil
}

// Result is what Run did.
type Result struct {
	// Steps is how many steps ran in this run (steps done by an earlier run excluded).
	Steps int
	// Same counts the steps whose receipt is the archived one; Differ the others;
	// Placed the steps with no archived receipt to compare (Placer); Unhandled the
	// service's own invocations no Handler runs (not run: what they did is missing from
	// the rebuilt store, and the steps after them may differ).
	Same, Differ, Placed, Unhandled int
	// FirstUnhandled names the command of the first unhandled step ("" when none).
	FirstUnhandled string
	// FirstDiff describes the first step whose receipt differs ("" when none).
	FirstDiff string
}

// Run runs plan's steps in order into the store behind opts.Runner and opts.Store, each
// at its original time, then records the replies. It is restartable: a run killed at any
// point and run again resumes after the last step committed (Plan.Resume) and ends with
// the same state.
func Run(ctx context.Context, plan *Plan, opts Options) (Result, error) {
	var res Result
	if opts.Runner == nil || opts.Store == nil || opts.SetClock == nil {
		return res, fmt.Errorf("%w: Runner, Store and SetClock are required", ErrConfig)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	last, err := opts.Store.LastSeq(ctx)
	if err != nil {
		return res, fmt.Errorf("reading the rebuilt store's last sequence: %w", err)
	}
	from := plan.Resume(last)
	if from > 0 {
		log.Info("resuming replay", "done", from, "steps", len(plan.Steps), "seq", last)
	}
	r := &runner{plan: plan, opts: opts, res: &res, budgets: map[cid.Cid]*ops.Budget{}}
	// A paced step that started before the resume point but had not written all it
	// wrote runs again from its start (the handlers skip what is done) and is paced to
	// its remaining writes; so does a step that may run again (Options.Again) whose last
	// archived write is the store's last: it may have written more after it.
	var partial []int
	for i := range plan.Steps[:from] {
		if st := &plan.Steps[i]; st.unfinished(last, opts.Again) {
			partial = append(partial, i)
		}
	}
	if err := r.run(ctx, from, partial); err != nil {
		return res, err
	}
	return res, recordReplies(ctx, plan, opts.Store)
}

// ReplyWriters is how many replies Run records at once: each is its own operation of the
// engine, and those queued together share one transaction (group commit) instead of
// one each.
const ReplyWriters = 256

// recordReplies records every reply of plan, ReplyWriters at a time (the keys differ:
// the order they are written in does not change the store).
func recordReplies(ctx context.Context, plan *Plan, store Store) error {
	replies := make([]cid.Cid, 0, len(plan.Replies))
	for r := range plan.Replies {
		replies = append(replies, r)
	}
	sort.Slice(replies, func(i, j int) bool { return replies[i].KeyString() < replies[j].KeyString() })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(ReplyWriters)
	for _, r := range replies {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := store.RecordReply(gctx, r, plan.Replies[r]); err != nil {
				return fmt.Errorf("recording reply %s: %w", r, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err() // a cancelled replay has not recorded them all
}

// Resume returns the index of the first step a replay into a store whose last commit
// sequence is last must run: the steps that wrote sequences up to last are done, and so
// are the steps answered before last was committed (their stored results, if any, are
// in the store; a read among them would now see later state). The steps answered after
// last was committed run again: they see the state they saw the first time, and a
// stored failure among them is answered from its result. Zero for an empty store.
func (p *Plan) Resume(last uint64) int {
	if last == 0 {
		return 0
	}
	return sort.Search(len(p.Steps), func(i int) bool {
		st := &p.Steps[i]
		return st.Seq > last || (st.Seq == last && !st.Change)
	})
}

// runner runs the steps of a plan: those of one time are checked together, and the
// writes among them run concurrently, chained with dag.Turn so that they are committed in
// plan order (many in one transaction), each at its own time (dag.WithTime). A read, a
// refusal or a self-issued invocation waits for the writes before it and runs alone.
type runner struct {
	plan    *Plan
	opts    Options
	res     *Result
	budgets map[cid.Cid]*ops.Budget

	prev    *dag.Turn
	flights []*flight
	// parked are the paced steps waiting for their next transaction's place.
	parked []*paced
}

// paced is a paced step (Step.Paced) running in the background: its handler runs under
// dag.WithPace, and before each of its writes pace waits until the runner has run every
// step before the write's place.
type paced struct {
	r  *runner
	i  int
	st *Step
	// need is the sequence the handler's next write commits first (while parked).
	need uint64
	// events carries the handler's parking (the sequence it needs) and, closed, its end.
	events chan uint64
	wake   chan struct{}
	got    cid.Cid
	err    error
}

// flight is a step running in the background.
type flight struct {
	i    int
	got  cid.Cid
	err  error
	done chan struct{}
}

func (r *runner) run(ctx context.Context, from int, partial []int) (err error) {
	hctx, cancel := context.WithCancel(ctx)
	defer func() {
		// No paced handler may run on once Run has returned (its caller closes the
		// store): stop those still parked and wait for them.
		cancel()
		for _, p := range r.parked {
			for range p.events {
			}
		}
	}()
	for _, i := range partial {
		if err := r.rerun(hctx, i); err != nil {
			return err
		}
	}
	steps := r.plan.Steps
	checked := make([]*ops.Checked, Window)
	for i := from; i < len(steps); {
		if err := ctx.Err(); err != nil {
			// Wait for the writes in flight: none may run on once Run has returned
			// (its caller closes the store).
			if derr := r.drain(); derr != nil {
				return derr
			}
			return err
		}
		if err := r.unpark(steps[i].Seq); err != nil {
			return err
		}
		j := i + 1
		for j < len(steps) && j-i < Window && steps[j].TS == steps[i].TS && !r.due(steps[j].Seq) {
			j++
		}
		// The validator judges time bounds by the clock: the group's time. Writes of
		// the group before still in flight carry their own time.
		r.opts.SetClock(time.UnixMilli(steps[i].TS))
		r.check(steps[i:j], checked)
		for k := i; k < j; k++ {
			// A paced step started in this group may park before a step of it.
			if err := r.unpark(steps[k].Seq); err != nil {
				return err
			}
			if err := r.step(hctx, k, checked[k-i]); err != nil {
				return err
			}
		}
		i = j
	}
	if err := r.unpark(^uint64(0)); err != nil {
		return err
	}
	return r.drain()
}

// due reports whether a parked step's next write goes before a step of sequence seq.
func (r *runner) due(seq uint64) bool {
	for _, p := range r.parked {
		if p.need <= seq {
			return true
		}
	}
	return false
}

// unpark lets the parked steps whose next write goes before a step of sequence seq
// write, earliest first, after the writes in flight, each until it parks again or ends.
func (r *runner) unpark(seq uint64) error {
	for r.due(seq) {
		if err := r.drain(); err != nil {
			return err
		}
		k := 0
		for n, p := range r.parked {
			if p.need < r.parked[k].need {
				k = n
			}
		}
		p := r.parked[k]
		r.parked = append(r.parked[:k], r.parked[k+1:]...)
		p.wake <- struct{}{}
		if err := r.await(p); err != nil {
			return err
		}
	}
	return nil
}

// unfinished reports whether st, a step before the resume point of a store whose last
// sequence is last, has writes left to do: a paced step whose last archived write is
// after last, or one that may run again (again) whose last archived write is last.
func (st *Step) unfinished(last uint64, again func(*Step) bool) bool {
	if !st.handled() {
		return false
	}
	if st.Paced() && st.last() > last {
		return true
	}
	return st.last() == last && again != nil && again(st)
}

// rerun runs again step i, before the resume point: a paced step from its start, paced to
// its remaining writes; another at once, at its time.
func (r *runner) rerun(ctx context.Context, i int) error {
	st := &r.plan.Steps[i]
	if st.Paced() {
		return r.startPaced(ctx, i)
	}
	if r.opts.Handlers[st.Inv.Invocation.Command] == nil {
		r.unhandled(st)
		return nil
	}
	r.opts.SetClock(time.UnixMilli(st.TS))
	got, err := r.handle(ctx, st)
	return r.account(i, got, err)
}

// startPaced starts the paced step i in the background and waits until it parks or ends.
func (r *runner) startPaced(ctx context.Context, i int) error {
	st := &r.plan.Steps[i]
	h := r.opts.Handlers[st.Inv.Invocation.Command]
	if h == nil {
		r.unhandled(st)
		return nil
	}
	p := &paced{r: r, i: i, st: st, events: make(chan uint64), wake: make(chan struct{})}
	go func() {
		defer close(p.events)
		p.got, p.err = h(dag.WithPace(ctx, p.pace), st)
	}()
	return r.await(p)
}

// await waits until p parks (it joins r.parked) or ends (it is accounted for).
func (r *runner) await(p *paced) error {
	need, ok := <-p.events
	if ok {
		p.need = need
		r.parked = append(r.parked, p)
		return nil
	}
	return r.account(p.i, p.got, p.err)
}

// pace runs before each write of p's handler (dag.WithPace): it parks the handler until
// the runner has run every step that goes before the write's place — the first of p's
// archived writes after the store's last sequence, s: the steps committed before s and
// those answered before it — and then sets the clock to that write's time.
func (p *paced) pace(ctx context.Context) error {
	last, err := p.r.opts.Store.LastSeq(ctx)
	if err != nil {
		return err
	}
	need := last + 1 // a write the original did not record: now
	if i := p.st.next(last); i < len(p.st.Stamps) {
		need = p.st.Stamps[i].Seq
	}
	select {
	case p.events <- need:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-p.wake:
	case <-ctx.Done():
		return ctx.Err()
	}
	if last, err = p.r.opts.Store.LastSeq(ctx); err != nil {
		return err
	}
	p.r.opts.SetClock(p.st.TimeAfter(last))
	return nil
}

// unhandled counts st as a step no Handler runs.
func (r *runner) unhandled(st *Step) {
	r.res.Unhandled++
	if r.res.FirstUnhandled == "" {
		r.res.FirstUnhandled = fmt.Sprintf("%s (invocation %s, seq %d)", st.Inv.Invocation.Command, st.Inv.CID, st.Seq)
	}
}

// check checks the client invocations of group in parallel into out.
func (r *runner) check(group []Step, out []*ops.Checked) {
	for k := range group {
		out[k] = nil
		if st := &group[k]; !st.handled() && r.budgets[st.Msg] == nil {
			r.budgets[st.Msg] = r.opts.Runner.NewBudget()
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(group), runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := int(next.Add(1)) - 1; k < len(group); k = int(next.Add(1)) - 1 {
				st := &group[k]
				if st.handled() {
					continue
				}
				out[k] = r.opts.Runner.Check(st.Inv, st.Proofs, r.budgets[st.Msg])
			}
		}()
	}
	wg.Wait()
}

// step starts or runs step i (checked: its check, nil for a self-issued invocation).
func (r *runner) step(ctx context.Context, i int, c *ops.Checked) error {
	st := &r.plan.Steps[i]
	cmd := st.Inv.Invocation.Command
	solo := c == nil || c.Refusal() != "" || cmd == ops.CmdGet || cmd == ops.CmdSelect
	alone := !solo && r.opts.Alone != nil && r.opts.Alone(st)
	if solo || alone {
		// Alone, after the writes before it: a read sees their state, a handler runs
		// its own operation, a refusal is stamped with the clock.
		if err := r.drain(); err != nil {
			return err
		}
		r.opts.SetClock(time.UnixMilli(st.TS))
		if alone && r.opts.Before != nil {
			r.opts.Before(st)
		}
		var got cid.Cid
		var err error
		if c == nil {
			if r.opts.Handlers[cmd] == nil {
				r.unhandled(st)
				return nil
			}
			if st.Paced() {
				return r.startPaced(ctx, i)
			}
			got, err = r.handle(ctx, st)
		} else {
			got, err = r.exec(ctx, st, c)
		}
		if alone && r.opts.After != nil {
			r.opts.After(st)
		}
		return r.account(i, got, err)
	}
	if len(r.flights) >= Window {
		// The oldest write first: the others go on being queued and committed
		// meanwhile (waiting for all of them here left the committer idle while
		// the next ones were checked).
		if err := r.retire(); err != nil {
			return err
		}
	}
	turn := dag.NewTurn(r.prev)
	r.prev = turn
	f := &flight{i: i, done: make(chan struct{})}
	r.flights = append(r.flights, f)
	go func() {
		defer close(f.done)
		defer turn.Pass()
		f.got, f.err = r.exec(ctx, st, c, dag.WithTime(time.UnixMilli(st.TS)), dag.WithTurn(turn))
	}()
	return nil
}

// retire waits for the oldest step in flight and accounts for it; when it failed, it
// waits for the others too (none may run on once Run has returned).
func (r *runner) retire() error {
	f := r.flights[0]
	<-f.done
	r.flights = r.flights[1:]
	if err := r.account(f.i, f.got, f.err); err != nil {
		_ = r.drain() // its error is a later step's: err is the first
		return err
	}
	return nil
}

// drain waits for the steps in flight and accounts for them in order.
func (r *runner) drain() error {
	var first error
	for _, f := range r.flights {
		<-f.done
		if err := r.account(f.i, f.got, f.err); err != nil && first == nil {
			first = err
		}
	}
	r.flights, r.prev = r.flights[:0], nil
	return first
}

// account records the outcome of step i.
func (r *runner) account(i int, got cid.Cid, err error) error {
	st := &r.plan.Steps[i]
	if err != nil {
		err = fmt.Errorf("step %d: invocation %s of message %s: %w", i, st.Inv.CID, st.Msg, err)
		if r.res.Unhandled > 0 {
			err = fmt.Errorf("%w (after %d of the service's own invocations replay does not run; first: %s)", err, r.res.Unhandled, r.res.FirstUnhandled)
		}
		if r.res.Differ > 0 {
			err = fmt.Errorf("%w (after %d receipts that differ from the archived ones; first: %s)", err, r.res.Differ, r.res.FirstDiff)
		}
		return err
	}
	r.res.Steps++
	if !st.Receipt.Defined() {
		r.res.Placed++
	} else if got.Equals(st.Receipt) {
		r.res.Same++
	} else {
		r.res.Differ++
		if r.res.FirstDiff == "" {
			r.res.FirstDiff = fmt.Sprintf("invocation %s (message %s, seq %d): archived receipt %s, replayed %s", st.Inv.CID, st.Msg, st.Seq, st.Receipt, got)
		}
	}
	if r.opts.OnStep != nil {
		r.opts.OnStep(i)
	}
	return nil
}

// handle runs a self-issued invocation with its handler (step checked there is one).
func (r *runner) handle(ctx context.Context, st *Step) (cid.Cid, error) {
	return r.opts.Handlers[st.Inv.Invocation.Command](ctx, st)
}

// exec runs a checked client invocation and returns its receipt's CID.
func (r *runner) exec(ctx context.Context, st *Step, c *ops.Checked, opts ...dag.OpOption) (cid.Cid, error) {
	out, err := r.opts.Runner.ExecWith(ctx, c, st.Msg, opts...)
	if err != nil {
		return cid.Undef, err
	}
	if out.Receipt == nil {
		return cid.Undef, errors.New("the runner returned no receipt")
	}
	return out.Receipt.CID, nil
}

// handled reports whether st is one of the service's own invocations that a Handler runs
// (not checked and run through the Runner).
func (st *Step) handled() bool { return st.Self && !isDAG(st.Inv.Invocation.Command) }

func isDAG(cmd string) bool {
	switch cmd {
	case ops.CmdPut, ops.CmdGet, ops.CmdRemove, ops.CmdSelect:
		return true
	}
	return false
}

// TimeAfter returns the time of the first write of st committed after the sequence last
// (its Stamps): the time a transaction of st that starts when last is the store's last
// sequence had in the original run. Past its last stamp (or with none) it is st.TS.
func (st *Step) TimeAfter(last uint64) time.Time {
	if i := st.next(last); i < len(st.Stamps) {
		return time.UnixMilli(st.Stamps[i].TS)
	}
	return time.UnixMilli(st.TS)
}

// next returns the index in st.Stamps of st's first write committed after the sequence
// last, len(st.Stamps) when there is none.
func (st *Step) next(last uint64) int {
	return sort.Search(len(st.Stamps), func(i int) bool { return st.Stamps[i].Seq > last })
}

// Paced reports whether st is one of the service's own invocations that a Handler runs
// and that wrote in more than one transaction (several Stamps): its step goes where its
// first write was committed, and Run holds each of its later transactions back until the
// writes committed before it in the original run are done (dag.WithPace), at the time of
// that transaction (TimeAfter).
func (st *Step) Paced() bool { return st.handled() && len(st.Stamps) > 1 }

// last is the sequence of st's last write (its own Seq when it has no Stamps).
func (st *Step) last() uint64 {
	if n := len(st.Stamps); n > 0 {
		return max(st.Stamps[n-1].Seq, st.Seq)
	}
	return st.Seq
}
