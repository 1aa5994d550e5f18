package policy

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/ipld/go-ipld-prime/datamodel"
)

// Match reports whether every statement of p holds for args (an
// invocation's arguments). It never fails: a selector that does not resolve
// makes its statement false, and so does exceeding MaxMatchSteps.
func (p Policy) Match(args datamodel.Node) bool {
	return p.Check(args) == nil
}

// Check is Match with an explanation: it returns nil when the policy holds,
// otherwise an error wrapping ErrNoMatch that names the first statement that
// does not hold, or ErrTooComplex.
func (p Policy) Check(args datamodel.Node) error {
	return p.check(args, newBudget(), MaxMatchSteps)
}

// CheckWithin is Check drawing its steps from b, shared with other checks,
// instead of a fresh MaxMatchSteps: once b is spent the policy does not hold
// (ErrTooComplex). A nil b is Check.
func (p Policy) CheckWithin(args datamodel.Node, b *Budget) error {
	if b == nil {
		return p.Check(args)
	}
	m := drawFrom(b)
	defer m.release()
	if b.Left() <= 0 {
		return fmt.Errorf("%w: the budget of steps is spent", ErrTooComplex)
	}
	return p.check(args, m, -1)
}

// check evaluates p with m; limit names the step limit in errors (-1: a shared Budget).
func (p Policy) check(args datamodel.Node, b *budget, limit int) error {
	if args == nil {
		args = datamodel.Null
	}
	for i, st := range p {
		ok := st.match(args, b)
		if b.exhausted() {
			if limit < 0 {
				return fmt.Errorf("%w: statement %d exhausts the budget of steps", ErrTooComplex, i)
			}
			return fmt.Errorf("%w: statement %d needs more than %d steps", ErrTooComplex, i, limit)
		}
		if !ok {
			return fmt.Errorf("%w: statement %d %s is false", ErrNoMatch, i, st)
		}
	}
	return nil
}

// Match reports whether the statement holds for n, within MaxMatchSteps.
func (st Statement) Match(n datamodel.Node) bool {
	if n == nil {
		n = datamodel.Null
	}
	b := newBudget()
	ok := st.match(n, b)
	return ok && !b.exhausted()
}

// match evaluates st against n. Once the budget is exhausted its result is
// meaningless (a "not" would turn false into true); callers check
// b.exhausted() afterwards.
func (st Statement) match(n datamodel.Node, b *budget) bool {
	if !b.spend(1) {
		return false
	}
	switch st.Op {
	case OpAnd:
		for _, o := range st.Operands {
			if !o.match(n, b) {
				return false
			}
		}
		return true
	case OpOr:
		if len(st.Operands) == 0 {
			return true // the specification makes the empty "or" true
		}
		for _, o := range st.Operands {
			if o.match(n, b) {
				return true
			}
		}
		return false
	case OpNot:
		if len(st.Operands) != 1 {
			return false
		}
		return !st.Operands[0].match(n, b)
	}

	v, err := st.Selector.selectIn(n, b)
	if err != nil {
		return false
	}
	switch st.Op {
	case OpEqual:
		return st.Value != nil && equal(v, st.Value, 0, b)
	case OpNotEqual:
		return st.Value != nil && !equal(v, st.Value, 0, b)
	case OpGreater, OpGreaterEqual, OpLess, OpLessEqual:
		if st.Value == nil {
			return false
		}
		c, ok := compareNumbers(v, st.Value)
		if !ok {
			return false
		}
		switch st.Op {
		case OpGreater:
			return c > 0
		case OpGreaterEqual:
			return c >= 0
		case OpLess:
			return c < 0
		default:
			return c <= 0
		}
	case OpLike:
		if v.Kind() != datamodel.Kind_String {
			return false
		}
		s, err := v.AsString()
		if err != nil || !b.spend(len(s)/16) {
			return false
		}
		return globMatch(st.Pattern, s)
	case OpAll, OpAny:
		if len(st.Operands) != 1 {
			return false
		}
		var elems []datamodel.Node
		switch v.Kind() {
		case datamodel.Kind_List:
			elems, err = listElemsIn(v, b)
		case datamodel.Kind_Map:
			elems, err = mapValuesIn(v, b)
		default:
			return false
		}
		if err != nil {
			return false
		}
		sub := st.Operands[0]
		if st.Op == OpAll {
			for _, e := range elems {
				if !sub.match(e, b) {
					return false
				}
			}
			return true
		}
		for _, e := range elems {
			if sub.match(e, b) {
				return true
			}
		}
		return false
	}
	return false
}

// number returns the exact value of an integer or float node.
func number(n datamodel.Node) (*big.Float, bool) {
	switch n.Kind() {
	case datamodel.Kind_Int:
		if u, ok := n.(datamodel.UintNode); ok {
			v, err := u.AsUint()
			if err == nil {
				return new(big.Float).SetUint64(v), true
			}
		}
		v, err := n.AsInt()
		if err != nil {
			return nil, false
		}
		return new(big.Float).SetInt64(v), true
	case datamodel.Kind_Float:
		v, err := n.AsFloat()
		if err != nil || math.IsNaN(v) {
			return nil, false
		}
		return new(big.Float).SetFloat64(v), true
	}
	return nil, false
}

// compareNumbers compares two numeric nodes exactly, across integers and
// floats. ok is false when either is not a number (or is NaN).
func compareNumbers(a, b datamodel.Node) (c int, ok bool) {
	x, ok := number(a)
	if !ok {
		return 0, false
	}
	y, ok := number(b)
	if !ok {
		return 0, false
	}
	return x.Cmp(y), true
}

// Equal reports whether two IPLD values are deeply equal, with the policy
// language's rules: integers and floats are equal when they have the same
// numeric value, maps are equal when they have the same keys with equal
// values (in any order), links when their CIDs are equal.
func Equal(a, b datamodel.Node) bool {
	bud := newBudget()
	return equal(a, b, 0, bud) && !bud.exhausted()
}

func equal(a, b datamodel.Node, depth int, bud *budget) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if !bud.spend(1) {
		return false
	}
	if depth > MaxValueDepth+1 {
		// A value this deep cannot equal a literal that Parse accepted.
		return false
	}
	ka, kb := a.Kind(), b.Kind()
	if isNumberKind(ka) && isNumberKind(kb) {
		c, ok := compareNumbers(a, b)
		return ok && c == 0
	}
	if ka != kb {
		return false
	}
	switch ka {
	case datamodel.Kind_Null:
		return true
	case datamodel.Kind_Bool:
		x, err1 := a.AsBool()
		y, err2 := b.AsBool()
		return err1 == nil && err2 == nil && x == y
	case datamodel.Kind_String:
		x, err1 := a.AsString()
		y, err2 := b.AsString()
		return err1 == nil && err2 == nil && x == y
	case datamodel.Kind_Bytes:
		x, err1 := a.AsBytes()
		y, err2 := b.AsBytes()
		return err1 == nil && err2 == nil && bytes.Equal(x, y)
	case datamodel.Kind_Link:
		x, err1 := a.AsLink()
		y, err2 := b.AsLink()
		return err1 == nil && err2 == nil && x.Binary() == y.Binary()
	case datamodel.Kind_List:
		if a.Length() != b.Length() {
			return false
		}
		ia, ib := a.ListIterator(), b.ListIterator()
		if ia == nil || ib == nil {
			return false
		}
		for !ia.Done() && !ib.Done() {
			_, x, err1 := ia.Next()
			_, y, err2 := ib.Next()
			if err1 != nil || err2 != nil || !equal(x, y, depth+1, bud) {
				return false
			}
		}
		return ia.Done() && ib.Done()
	case datamodel.Kind_Map:
		if a.Length() != b.Length() {
			return false
		}
		it := a.MapIterator()
		if it == nil {
			return false
		}
		for !it.Done() {
			k, x, err := it.Next()
			if err != nil {
				return false
			}
			ks, err := k.AsString()
			if err != nil {
				return false
			}
			y, err := b.LookupByString(ks)
			if err != nil || y == nil || y.IsAbsent() || !equal(x, y, depth+1, bud) {
				return false
			}
		}
		return true
	}
	return false
}

func isNumberKind(k datamodel.Kind) bool {
	return k == datamodel.Kind_Int || k == datamodel.Kind_Float
}

// globMatch reports whether s matches the "like" pattern: "*" matches any
// run of characters (also none), `\*` matches a literal "*", every other
// character (including whitespace and any other backslash) matches itself.
func globMatch(pattern, s string) bool {
	// Split the pattern into literal pieces separated by wildcards.
	var pieces []string
	var cur []byte
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c == '\\' && i+1 < len(pattern) && pattern[i+1] == '*':
			cur = append(cur, '*')
			i++
		case c == '*':
			pieces = append(pieces, string(cur))
			cur = cur[:0]
		default:
			cur = append(cur, c)
		}
	}
	pieces = append(pieces, string(cur))
	if len(pieces) == 1 {
		return s == pieces[0]
	}
	// The first piece anchors the start, the last the end; the middle ones
	// are matched leftmost, which is optimal for "*"-only globs.
	first, last := pieces[0], pieces[len(pieces)-1]
	if len(s) < len(first)+len(last) || s[:len(first)] != first || s[len(s)-len(last):] != last {
		return false
	}
	rest := s[len(first) : len(s)-len(last)]
	for _, p := range pieces[1 : len(pieces)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return true
}
