package policy

import (
	"bytes"
	"fmt"

	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

// Limits applied by Parse to policies from untrusted tokens.
const (
	// MaxDepth is the deepest nesting of statements ("and", "or", "not",
	// "all" and "any" each add one level; top-level statements are at
	// depth 1). It keeps parsing and matching from exhausting the stack.
	MaxDepth = 32

	// MaxStatements is the most statements one policy may hold, counting
	// nested ones. It bounds the work of matching.
	MaxStatements = 1024

	// MaxValueDepth is the deepest nesting of lists and maps in a literal
	// compared with "==" or "!=" (a scalar has depth 0).
	MaxValueDepth = 32
)

// Op is a statement's operator, the first element of its IPLD form.
type Op string

// The operators of the UCAN 1.0 policy language.
const (
	OpEqual        Op = "=="
	OpNotEqual     Op = "!="
	OpGreater      Op = ">"
	OpGreaterEqual Op = ">="
	OpLess         Op = "<"
	OpLessEqual    Op = "<="
	OpLike         Op = "like"
	OpAnd          Op = "and"
	OpOr           Op = "or"
	OpNot          Op = "not"
	OpAll          Op = "all"
	OpAny          Op = "any"
)

// Statement is one parsed policy statement. Which fields are meaningful
// depends on Op:
//
//	==, !=             Selector, Value (any IPLD value)
//	>, >=, <, <=       Selector, Value (an integer or a float)
//	like               Selector, Pattern
//	and, or            Operands (any number, also none)
//	not                Operands (exactly one)
//	all, any           Selector, Operands (exactly one)
//
// Statements built by Parse always have this shape; a hand-built statement
// that does not simply never matches.
type Statement struct {
	Op       Op
	Selector Selector
	Value    datamodel.Node
	Pattern  string
	Operands []Statement
}

// Policy is a parsed policy: a list of statements that must all hold. The
// zero value (no statements) matches any arguments.
type Policy []Statement

// Parse parses a policy from its IPLD form, a list of statements. Errors
// wrap ErrInvalidPolicy and say where the problem is, e.g.
// `statement 2: "like" needs a string pattern`; statements are counted from
// 0, and nested ones are named by the path to them ("statement 0: operand 1:
// ...").
func Parse(n datamodel.Node) (Policy, error) {
	if n == nil || n.Kind() != datamodel.Kind_List {
		return nil, fmt.Errorf("%w: a policy must be a list of statements, not %s", ErrInvalidPolicy, kindOf(n))
	}
	p := &parser{}
	elems, err := listElems(n)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
	}
	out := make(Policy, 0, len(elems))
	for i, e := range elems {
		st, err := p.statement(e, 1)
		if err != nil {
			return nil, fmt.Errorf("%w: statement %d: %w", ErrInvalidPolicy, i, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// ParseJSON parses a policy written as DAG-JSON, e.g.
// `[["==", ".from", "alice@example.com"]]`.
func ParseJSON(data []byte) (Policy, error) {
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := (dagjson.DecodeOptions{ParseLinks: true, ParseBytes: true}).Decode(nb, bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("%w: decoding DAG-JSON: %v", ErrInvalidPolicy, err)
	}
	return Parse(nb.Build())
}

func kindOf(n datamodel.Node) string {
	if n == nil {
		return "nil"
	}
	return kindName(n)
}

type parser struct {
	count int
}

func (p *parser) statement(n datamodel.Node, depth int) (Statement, error) {
	if depth > MaxDepth {
		return Statement{}, fmt.Errorf("statements nested deeper than %d", MaxDepth)
	}
	p.count++
	if p.count > MaxStatements {
		return Statement{}, fmt.Errorf("more than %d statements", MaxStatements)
	}
	if n.Kind() != datamodel.Kind_List {
		return Statement{}, fmt.Errorf("a statement must be a list, not %s", kindName(n))
	}
	elems, err := listElems(n)
	if err != nil {
		return Statement{}, err
	}
	if len(elems) == 0 {
		return Statement{}, fmt.Errorf("empty statement")
	}
	opStr, err := elems[0].AsString()
	if err != nil {
		return Statement{}, fmt.Errorf("the operator must be a string, not %s", kindName(elems[0]))
	}
	op := Op(opStr)
	want := func(k int, shape string) error {
		if len(elems) != k {
			return fmt.Errorf("%q takes %s, got %d elements", op, shape, len(elems)-1)
		}
		return nil
	}
	sel := func() (Selector, error) {
		s, err := elems[1].AsString()
		if err != nil {
			return Selector{}, fmt.Errorf("%q needs a selector string, not %s", op, kindName(elems[1]))
		}
		return ParseSelector(s)
	}
	st := Statement{Op: op}
	switch op {
	case OpEqual, OpNotEqual, OpGreater, OpGreaterEqual, OpLess, OpLessEqual:
		if err := want(3, "a selector and a value"); err != nil {
			return Statement{}, err
		}
		if st.Selector, err = sel(); err != nil {
			return Statement{}, err
		}
		v := elems[2]
		switch op {
		case OpEqual, OpNotEqual:
			if err := checkValueDepth(op, v, 0); err != nil {
				return Statement{}, err
			}
		default:
			if k := v.Kind(); k != datamodel.Kind_Int && k != datamodel.Kind_Float {
				return Statement{}, fmt.Errorf("%q needs a number, not %s", op, kindName(v))
			}
		}
		st.Value = v
	case OpLike:
		if err := want(3, "a selector and a pattern"); err != nil {
			return Statement{}, err
		}
		if st.Selector, err = sel(); err != nil {
			return Statement{}, err
		}
		if st.Pattern, err = elems[2].AsString(); err != nil || elems[2].Kind() != datamodel.Kind_String {
			return Statement{}, fmt.Errorf("%q needs a string pattern, not %s", op, kindName(elems[2]))
		}
	case OpAnd, OpOr:
		if err := want(2, "a list of statements"); err != nil {
			return Statement{}, err
		}
		if elems[1].Kind() != datamodel.Kind_List {
			return Statement{}, fmt.Errorf("%q needs a list of statements, not %s", op, kindName(elems[1]))
		}
		subs, err := listElems(elems[1])
		if err != nil {
			return Statement{}, err
		}
		st.Operands = make([]Statement, 0, len(subs))
		for i, sub := range subs {
			s, err := p.statement(sub, depth+1)
			if err != nil {
				return Statement{}, fmt.Errorf("%q operand %d: %w", op, i, err)
			}
			st.Operands = append(st.Operands, s)
		}
	case OpNot:
		if err := want(2, "one statement"); err != nil {
			return Statement{}, err
		}
		s, err := p.statement(elems[1], depth+1)
		if err != nil {
			return Statement{}, fmt.Errorf("%q: %w", op, err)
		}
		st.Operands = []Statement{s}
	case OpAll, OpAny:
		if err := want(3, "a selector and a statement"); err != nil {
			return Statement{}, err
		}
		if st.Selector, err = sel(); err != nil {
			return Statement{}, err
		}
		s, err := p.statement(elems[2], depth+1)
		if err != nil {
			return Statement{}, fmt.Errorf("%q: %w", op, err)
		}
		st.Operands = []Statement{s}
	default:
		return Statement{}, fmt.Errorf("unknown operator %q", opStr)
	}
	return st, nil
}

// checkValueDepth reports whether the lists and maps in n, itself at depth d, nest deeper
// than MaxValueDepth, stopping at the first that does; a list or map that cannot be
// iterated is an error too.
func checkValueDepth(op Op, n datamodel.Node, d int) error {
	var kids []datamodel.Node
	var err error
	switch n.Kind() {
	case datamodel.Kind_List:
		kids, err = listElems(n)
	case datamodel.Kind_Map:
		kids, err = mapValues(n)
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("%q value: %w", op, err)
	}
	if d+1 > MaxValueDepth {
		return fmt.Errorf("%q value nested deeper than %d", op, MaxValueDepth)
	}
	for _, k := range kids {
		if err := checkValueDepth(op, k, d+1); err != nil {
			return err
		}
	}
	return nil
}

// Node returns the policy in its IPLD form, the list Parse reads.
func (p Policy) Node() datamodel.Node {
	items := make([]datamodel.Node, len(p))
	for i, st := range p {
		items[i] = st.Node()
	}
	return mustList(items)
}

// Node returns the statement in its IPLD form.
func (st Statement) Node() datamodel.Node {
	var items []datamodel.Node
	items = append(items, basicnode.NewString(string(st.Op)))
	switch st.Op {
	case OpEqual, OpNotEqual, OpGreater, OpGreaterEqual, OpLess, OpLessEqual:
		v := st.Value
		if v == nil {
			v = datamodel.Null
		}
		items = append(items, basicnode.NewString(st.Selector.String()), v)
	case OpLike:
		items = append(items, basicnode.NewString(st.Selector.String()), basicnode.NewString(st.Pattern))
	case OpAnd, OpOr:
		subs := make([]datamodel.Node, len(st.Operands))
		for i, s := range st.Operands {
			subs[i] = s.Node()
		}
		items = append(items, mustList(subs))
	case OpNot:
		for _, s := range st.Operands {
			items = append(items, s.Node())
		}
	case OpAll, OpAny:
		items = append(items, basicnode.NewString(st.Selector.String()))
		for _, s := range st.Operands {
			items = append(items, s.Node())
		}
	}
	return mustList(items)
}

// mustList builds a list of basicnode or caller-supplied nodes; assigning
// nodes to a basicnode list cannot fail.
func mustList(items []datamodel.Node) datamodel.Node {
	l, err := newList(items)
	if err != nil {
		return datamodel.Null
	}
	return l
}

// String returns the policy as DAG-JSON.
func (p Policy) String() string { return nodeJSON(p.Node()) }

// String returns the statement as DAG-JSON.
func (st Statement) String() string { return nodeJSON(st.Node()) }

func nodeJSON(n datamodel.Node) string {
	var buf bytes.Buffer
	if err := dagjson.Encode(n, &buf); err != nil {
		return fmt.Sprintf("<unencodable: %v>", err)
	}
	return buf.String()
}
