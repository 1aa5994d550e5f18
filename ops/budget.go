package ops

import (
	"fmt"
	"sync/atomic"

	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/policy"
)

// Limits on the work of one message (every invocation in it together), sized for honest
// use with a wide margin: an honest invocation costs tens to a few thousand steps.
const (
	// DefaultMessageWork is the steps (policy.MaxMatchSteps counts them) one message may
	// spend: walking every invocation's args (one step per node and per 16 bytes of string
	// or bytes), matching every policy of every proof chain against them, and matching
	// them again for each entry a select returns. About 70 ns a step: roughly 70 ms of
	// CPU. serve --message-work.
	DefaultMessageWork = 1 << 20
	// DefaultMessageProofs is the most proofs all invocations of one message may name
	// together (each is at most ucan.MaxProofDepth). serve --message-proofs.
	DefaultMessageProofs = 1024
	// DefaultMessageReplyBytes is the select page bytes one message's reply may carry, all
	// its selects together: each select's page budget (Options.SelectPageBytes) is taken
	// from it, smaller when little is left, and a select finding none left is refused. It
	// keeps a reply well below what clients accept (message.MaxReplySize, 64 MiB) whatever
	// the number of selects in the message. serve --message-reply-bytes.
	DefaultMessageReplyBytes = 32 << 20
)

// Names of the limits in BudgetExceeded receipts (and of the serve flags that set them).
const (
	LimitMessageWork   = "message-work"
	LimitMessageProofs = "message-proofs"
	LimitMessageReply  = "message-reply-bytes"
)

// Budget is the work one message may still do; every invocation checked with it draws
// from it. It is safe for concurrent use. Make one per message with Ops.NewBudget.
type Budget struct {
	steps     *policy.Budget
	proofs    atomic.Int64
	reply     atomic.Int64
	work      int
	maxProofs int
	maxReply  int
}

// NewBudget returns a fresh Budget of the limits o was configured with.
func (o *Ops) NewBudget() *Budget {
	b := &Budget{steps: policy.NewBudget(o.work), work: o.work, maxProofs: o.maxProofs, maxReply: o.maxReply}
	b.proofs.Store(int64(o.maxProofs))
	b.reply.Store(int64(o.maxReply))
	return b
}

// ReplyBytes returns the select page bytes handed out so far (what the message's reply
// may hold in pages), for callers that reserve memory for the reply.
func (b *Budget) ReplyBytes() int { return max(0, b.maxReply-int(b.reply.Load())) }

// Left returns the steps not yet spent.
func (b *Budget) Left() int { return b.steps.Left() }

// exceeded is the refusal for a spent limit.
func exceeded(limit string, max int, what string) error {
	return fmt.Errorf("%w: %s: %s (the limit is %d per message)", ErrBudgetExceeded, limit, what, max)
}

// charge takes the cheap, shape-only costs of in from b before anything else is done with
// it: its proofs and the size of its args.
func (b *Budget) charge(in *ucan.Invocation) error {
	if b.proofs.Add(-int64(len(in.Proofs))) < 0 {
		return exceeded(LimitMessageProofs, b.maxProofs, fmt.Sprintf("invocation names %d proofs, more than the message has left", len(in.Proofs)))
	}
	if in.Args != nil && !walk(in.Args, b.steps) {
		return exceeded(LimitMessageWork, b.work, "the invocation's args are larger than the work the message has left")
	}
	return nil
}

// walk charges n and everything below it to b, stopping as soon as b is spent.
func walk(n datamodel.Node, b *policy.Budget) bool {
	cost := 1
	switch n.Kind() {
	case datamodel.Kind_String:
		s, _ := n.AsString()
		cost += len(s) / 16
	case datamodel.Kind_Bytes:
		bs, _ := n.AsBytes()
		cost += len(bs) / 16
	}
	if !b.Spend(cost) {
		return false
	}
	switch n.Kind() {
	case datamodel.Kind_Map:
		for it := n.MapIterator(); !it.Done(); {
			_, v, err := it.Next()
			if err != nil || !b.Spend(1) || !walk(v, b) {
				return false
			}
		}
	case datamodel.Kind_List:
		for it := n.ListIterator(); !it.Done(); {
			_, v, err := it.Next()
			if err != nil || !walk(v, b) {
				return false
			}
		}
	}
	return true
}

// pageBytes takes a select's page byte budget from b: want, or what is left when less; a
// message with nothing left refuses the select.
func (b *Budget) pageBytes(want int) (int, error) {
	for {
		left := b.reply.Load()
		if left <= 0 {
			return 0, exceeded(LimitMessageReply, b.maxReply, "the selects before this one filled the reply")
		}
		take := min(int64(want), left)
		if b.reply.CompareAndSwap(left, left-take) {
			return int(take), nil
		}
	}
}
