package policy

import "errors"

// MaxMatchSteps bounds the work of one Policy.Match (or Check, or
// Selector.Select): every statement evaluated, selector segment applied,
// element iterated, value compared and 16 bytes of string scanned is one
// step. A policy and arguments that need more do not match. Legitimate
// policies need a few steps per statement and per element they range over;
// the bound stops a hostile combination (say, hundreds of ".[:]" slices of a
// list of a million elements, repeated in a thousand statements) from tying
// up a CPU.
const MaxMatchSteps = 1 << 22

// errBudget is returned internally once the budget is spent.
var errBudget = errors.New("evaluation budget exhausted")

type budget struct{ left int }

func newBudget() *budget { return &budget{left: MaxMatchSteps} }

// spend takes n steps from the budget and reports whether any were left.
func (b *budget) spend(n int) bool {
	if b.left < 0 {
		return false
	}
	b.left -= n
	return b.left >= 0
}

func (b *budget) exhausted() bool { return b.left < 0 }
