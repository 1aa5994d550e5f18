package policy

import (
	"errors"
	"sync/atomic"
)

// MaxMatchSteps bounds the work of one Policy.Match (or Check, or
// Selector.Select) when no Budget is given: every statement evaluated,
// selector segment applied, element iterated, value compared and 16 bytes of
// string scanned is one step. A policy and arguments that need more do not
// match. Legitimate policies need a few steps per statement and per element
// they range over; the bound stops a hostile combination (say, hundreds of
// ".[:]" slices of a list of a million elements, repeated in a thousand
// statements) from tying up a CPU. Callers that check many policies for one
// request share one Budget instead (Policy.CheckWithin), so that the bound is
// per request, not per check.
const MaxMatchSteps = 1 << 22

// budgetChunk is how many steps an evaluation takes from a shared Budget at a
// time; a Budget is overdrawn by at most this much per concurrent evaluation.
const budgetChunk = 1024

// errBudget is returned internally once the budget is spent.
var errBudget = errors.New("evaluation budget exhausted")

// Budget is a number of evaluation steps (see MaxMatchSteps) that several
// checks draw from, so that the work of all of them together is bounded. It
// is safe for concurrent use; evaluations take steps from it in chunks of
// 1024 and give back what they did not use. The zero Budget has no steps.
type Budget struct{ left atomic.Int64 }

// NewBudget returns a Budget of steps steps.
func NewBudget(steps int) *Budget {
	b := &Budget{}
	b.left.Store(int64(steps))
	return b
}

// Left returns the steps not yet spent (negative once overdrawn).
func (b *Budget) Left() int { return int(b.left.Load()) }

// Spend takes n steps and reports whether there were n left; the steps are
// taken either way. Callers charge work that is not a policy evaluation
// (decoding, walking arguments) with it.
func (b *Budget) Spend(n int) bool { return b.left.Add(-int64(n)) >= 0 }

// budget is the meter one evaluation charges: steps held locally, refilled
// from src in chunks when there is one.
type budget struct {
	left int
	src  *Budget
}

func newBudget() *budget { return &budget{left: MaxMatchSteps} }

// drawFrom returns a meter drawing from src.
func drawFrom(src *Budget) *budget { return &budget{src: src} }

// spend takes n steps from the budget and reports whether any were left.
func (b *budget) spend(n int) bool {
	if b.left < 0 {
		return false
	}
	b.left -= n
	for b.left < 0 && b.src != nil {
		after := b.src.left.Add(-budgetChunk)
		got := min(budgetChunk, max(0, int(after)+budgetChunk))
		if got < budgetChunk {
			b.src.left.Add(int64(budgetChunk - got))
		}
		if got == 0 {
			b.src = nil
			break
		}
		b.left += got
	}
	return b.left >= 0
}

// release gives the steps not used back to the shared Budget.
func (b *budget) release() {
	if b.src != nil && b.left > 0 {
		b.src.left.Add(int64(b.left))
		b.left = 0
	}
}

func (b *budget) exhausted() bool { return b.left < 0 }
