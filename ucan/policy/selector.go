package policy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

// MaxSelectorLength is the longest selector, in bytes, that ParseSelector
// accepts. It bounds the number of segments, and so the work one selector can
// cause, for selectors that arrive inside untrusted tokens.
const MaxSelectorLength = 1024

// Selector is a parsed UCAN selector, the jq subset used by policy
// statements: "." (identity), ".foo", `.["key"]`, ".[]" (iterate list
// elements or map values), ".[i]" and ".[-i]" (index lists, bytes and
// strings), ".[a:b]", ".[a:]", ".[:b]" (slices, negatives count from the
// end), each optionally followed by "?".
//
// The zero Selector is the identity selector ".".
type Selector struct {
	text string
	segs []segment
}

type segmentKind uint8

const (
	segField segmentKind = iota
	segIndex
	segSlice
	segIterate
)

type segment struct {
	kind     segmentKind
	key      string // segField
	index    int64  // segIndex
	from, to int64  // segSlice, valid when hasFrom/hasTo
	hasFrom  bool
	hasTo    bool
	optional bool
}

// ParseSelector parses the textual form of a selector. The error, which
// wraps ErrInvalidSelector, names the byte offset of the problem.
func ParseSelector(s string) (Selector, error) {
	fail := func(off int, format string, args ...any) (Selector, error) {
		return Selector{}, fmt.Errorf("%w %q: offset %d: %s", ErrInvalidSelector, s, off, fmt.Sprintf(format, args...))
	}
	if len(s) > MaxSelectorLength {
		return Selector{}, fmt.Errorf("%w: %d bytes long, the limit is %d", ErrInvalidSelector, len(s), MaxSelectorLength)
	}
	if s == "" {
		return Selector{}, fmt.Errorf("%w: empty selector (the identity selector is \".\")", ErrInvalidSelector)
	}
	if s[0] != '.' {
		return fail(0, "a selector must start with \".\"")
	}
	if s == "." {
		return Selector{text: s}, nil
	}
	var segs []segment
	i := 0
	for i < len(s) {
		switch c := s[i]; c {
		case '.':
			i++
			if i >= len(s) {
				return fail(i-1, "trailing \".\"")
			}
			switch {
			case s[i] == '[':
				// The bracket is parsed by the next iteration.
			case s[i] == '.':
				return fail(i-1, "recursive descent \"..\" is not supported")
			case isIdentStart(s[i]):
				j := i + 1
				for j < len(s) && isIdentChar(s[j]) {
					j++
				}
				segs = append(segs, segment{kind: segField, key: s[i:j]})
				i = j
			default:
				return fail(i, "expected a field name or \"[\" after \".\", found %q", rest(s[i:]))
			}
		case '[':
			seg, n, err := parseBracket(s[i:])
			if err != nil {
				return fail(i, "%s", err)
			}
			segs = append(segs, seg)
			i += n
		case '?':
			if len(segs) == 0 {
				return fail(i, "\"?\" must follow a segment")
			}
			segs[len(segs)-1].optional = true
			i++
		default:
			return fail(i, "unexpected %q", rest(s[i:]))
		}
	}
	return Selector{text: s, segs: segs}, nil
}

// rest returns the first character of s, for error messages.
func rest(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n <= 1 {
		return s[:1]
	}
	return s[:n]
}

func isIdentStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || ('0' <= c && c <= '9')
}

// parseBracket parses one bracketed segment at the start of s (s[0] == '[')
// and returns it with the number of bytes consumed.
func parseBracket(s string) (segment, int, error) {
	i := 1
	if i >= len(s) {
		return segment{}, 0, fmt.Errorf("unterminated \"[\"")
	}
	switch {
	case s[i] == ']':
		return segment{kind: segIterate}, i + 1, nil
	case s[i] == '"':
		j := i + 1
		for ; j < len(s); j++ {
			if s[j] == '\\' {
				j++
				continue
			}
			if s[j] == '"' {
				break
			}
		}
		if j >= len(s) {
			return segment{}, 0, fmt.Errorf("unterminated quoted key")
		}
		var key string
		if err := json.Unmarshal([]byte(s[i:j+1]), &key); err != nil {
			return segment{}, 0, fmt.Errorf("bad quoted key %s: %v", s[i:j+1], err)
		}
		if j+1 >= len(s) || s[j+1] != ']' {
			return segment{}, 0, fmt.Errorf("expected \"]\" after quoted key")
		}
		return segment{kind: segField, key: key}, j + 2, nil
	}
	from, hasFrom, n, err := parseInt(s[i:])
	if err != nil {
		return segment{}, 0, err
	}
	i += n
	if i >= len(s) {
		return segment{}, 0, fmt.Errorf("unterminated \"[\"")
	}
	if !hasFrom && s[i] != ':' {
		return segment{}, 0, fmt.Errorf("expected an index, a slice, a quoted key or \"]\" after \"[\", found %q", rest(s[i:]))
	}
	if s[i] == ']' {
		return segment{kind: segIndex, index: from}, i + 1, nil
	}
	if s[i] != ':' {
		return segment{}, 0, fmt.Errorf("unexpected %q inside \"[...]\"", rest(s[i:]))
	}
	i++
	to, hasTo, n, err := parseInt(s[i:])
	if err != nil {
		return segment{}, 0, err
	}
	i += n
	if i >= len(s) || s[i] != ']' {
		return segment{}, 0, fmt.Errorf("expected \"]\" to close the slice")
	}
	return segment{kind: segSlice, from: from, hasFrom: hasFrom, to: to, hasTo: hasTo}, i + 1, nil
}

// parseInt parses an optional decimal integer (with optional leading "-") at
// the start of s.
func parseInt(s string) (v int64, ok bool, n int, err error) {
	if n < len(s) && s[n] == '-' {
		n++
	}
	start := n
	for n < len(s) && '0' <= s[n] && s[n] <= '9' {
		n++
	}
	if n == start {
		if n > 0 {
			return 0, false, 0, fmt.Errorf("\"-\" without digits")
		}
		return 0, false, 0, nil
	}
	v, err = strconv.ParseInt(s[:n], 10, 64)
	if err != nil {
		return 0, false, 0, fmt.Errorf("index %s out of range", s[:n])
	}
	return v, true, n, nil
}

// MustParseSelector is like ParseSelector but panics on error. It is meant
// for selectors written in the source code, never for untrusted input.
func MustParseSelector(s string) Selector {
	sel, err := ParseSelector(s)
	if err != nil {
		panic(err)
	}
	return sel
}

// String returns the selector's text exactly as it was parsed.
func (s Selector) String() string {
	if s.text == "" {
		return "."
	}
	return s.text
}

// IsIdentity reports whether the selector is ".".
func (s Selector) IsIdentity() bool { return len(s.segs) == 0 }

// Select applies the selector to n. It returns ErrUnresolved (wrapped, with
// the failing segment) when a non-optional segment cannot be applied. A
// failing optional segment makes the whole selection null; inside an
// iteration it drops that element instead, as jq does. When the selector
// iterates (".[]"), the result is a list of everything it produced.
//
// A nil n is treated as null. A selection that would take more than
// MaxMatchSteps steps fails with ErrTooComplex.
func (s Selector) Select(n datamodel.Node) (datamodel.Node, error) {
	b := newBudget()
	v, err := s.selectIn(n, b)
	if b.exhausted() {
		return nil, fmt.Errorf("%w: selecting %s", ErrTooComplex, s)
	}
	return v, err
}

func (s Selector) selectIn(n datamodel.Node, b *budget) (datamodel.Node, error) {
	if n == nil {
		n = datamodel.Null
	}
	cur := []datamodel.Node{n}
	iterated := false
	for i, seg := range s.segs {
		if !iterated {
			out, err := seg.apply(n, b)
			if err != nil {
				if seg.optional && !b.exhausted() {
					return datamodel.Null, nil
				}
				return nil, fmt.Errorf("%w: %s: segment %d: %v", ErrUnresolved, s, i, err)
			}
			if seg.kind == segIterate {
				iterated = true
				cur = out
				continue
			}
			n = out[0]
			continue
		}
		next := make([]datamodel.Node, 0, len(cur))
		for _, v := range cur {
			out, err := seg.apply(v, b)
			if err != nil {
				if seg.optional && !b.exhausted() {
					continue
				}
				return nil, fmt.Errorf("%w: %s: segment %d: %v", ErrUnresolved, s, i, err)
			}
			next = append(next, out...)
		}
		cur = next
	}
	if !iterated {
		return n, nil
	}
	if !b.spend(len(cur)) {
		return nil, errBudget
	}
	return newList(cur)
}

// apply applies one segment to n; an iterator returns every element, the
// other kinds exactly one node.
func (seg segment) apply(n datamodel.Node, b *budget) ([]datamodel.Node, error) {
	if !b.spend(1) {
		return nil, errBudget
	}
	switch seg.kind {
	case segField:
		if n.Kind() != datamodel.Kind_Map {
			return nil, fmt.Errorf("field %q of %s", seg.key, kindName(n))
		}
		v, err := n.LookupByString(seg.key)
		if err != nil || v == nil || v.IsAbsent() {
			return nil, fmt.Errorf("no field %q", seg.key)
		}
		return []datamodel.Node{v}, nil
	case segIterate:
		switch n.Kind() {
		case datamodel.Kind_List:
			return listElemsIn(n, b)
		case datamodel.Kind_Map:
			return mapValuesIn(n, b)
		}
		return nil, fmt.Errorf("cannot iterate over %s", kindName(n))
	case segIndex:
		return indexNode(n, seg.index, b)
	case segSlice:
		return sliceNode(n, seg, b)
	}
	return nil, fmt.Errorf("unknown segment kind %d", seg.kind)
}

// listElemsIn is listElems charged to a budget.
func listElemsIn(n datamodel.Node, b *budget) ([]datamodel.Node, error) {
	if !b.spend(int(min(max(n.Length(), 0), MaxMatchSteps+1))) {
		return nil, errBudget
	}
	return listElems(n)
}

// mapValuesIn is mapValues charged to a budget.
func mapValuesIn(n datamodel.Node, b *budget) ([]datamodel.Node, error) {
	if !b.spend(int(min(max(n.Length(), 0), MaxMatchSteps+1))) {
		return nil, errBudget
	}
	return mapValues(n)
}

func kindName(n datamodel.Node) string {
	if n.IsAbsent() {
		return "a missing value"
	}
	switch k := strings.ToLower(n.Kind().String()); k {
	case "int", "invalid":
		return "an " + k
	default:
		return "a " + k
	}
}

func listElems(n datamodel.Node) ([]datamodel.Node, error) {
	out := make([]datamodel.Node, 0, max(n.Length(), 0))
	it := n.ListIterator()
	if it == nil {
		return nil, fmt.Errorf("list without an iterator")
	}
	for !it.Done() {
		_, v, err := it.Next()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func mapValues(n datamodel.Node) ([]datamodel.Node, error) {
	out := make([]datamodel.Node, 0, max(n.Length(), 0))
	it := n.MapIterator()
	if it == nil {
		return nil, fmt.Errorf("map without an iterator")
	}
	for !it.Done() {
		_, v, err := it.Next()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// chars splits s into characters: whole UTF-8 sequences, and single bytes
// where s is not valid UTF-8 (so no byte of the input is ever altered).
func chars(s string) []string {
	out := make([]string, 0, len(s))
	for len(s) > 0 {
		_, n := utf8.DecodeRuneInString(s)
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

func indexNode(n datamodel.Node, idx int64, b *budget) ([]datamodel.Node, error) {
	norm := func(length int64) (int64, error) {
		i := idx
		if i < 0 {
			i += length
		}
		if i < 0 || i >= length {
			return 0, fmt.Errorf("index %d out of range for length %d", idx, length)
		}
		return i, nil
	}
	switch n.Kind() {
	case datamodel.Kind_List:
		i, err := norm(n.Length())
		if err != nil {
			return nil, err
		}
		v, err := n.LookupByIndex(i)
		if err != nil {
			return nil, err
		}
		return []datamodel.Node{v}, nil
	case datamodel.Kind_Bytes:
		bs, err := n.AsBytes()
		if err != nil {
			return nil, err
		}
		i, err := norm(int64(len(bs)))
		if err != nil {
			return nil, err
		}
		return []datamodel.Node{basicnode.NewInt(int64(bs[i]))}, nil
	case datamodel.Kind_String:
		s, err := n.AsString()
		if err != nil {
			return nil, err
		}
		if !b.spend(len(s) / 16) {
			return nil, errBudget
		}
		cs := chars(s)
		i, err := norm(int64(len(cs)))
		if err != nil {
			return nil, err
		}
		return []datamodel.Node{basicnode.NewString(cs[i])}, nil
	}
	return nil, fmt.Errorf("cannot index %s", kindName(n))
}

// bounds turns a slice segment into [from, to) for a sequence of the given
// length: negative bounds count from the end and everything is clamped, as
// in jq.
func (seg segment) bounds(length int64) (int64, int64) {
	clamp := func(v int64) int64 {
		if v < 0 {
			v += length
		}
		return min(max(v, 0), length)
	}
	from, to := int64(0), length
	if seg.hasFrom {
		from = clamp(seg.from)
	}
	if seg.hasTo {
		to = clamp(seg.to)
	}
	if to < from {
		to = from
	}
	return from, to
}

func sliceNode(n datamodel.Node, seg segment, b *budget) ([]datamodel.Node, error) {
	switch n.Kind() {
	case datamodel.Kind_List:
		elems, err := listElemsIn(n, b)
		if err != nil {
			return nil, err
		}
		from, to := seg.bounds(int64(len(elems)))
		if !b.spend(int(to - from)) {
			return nil, errBudget
		}
		l, err := newList(elems[from:to])
		if err != nil {
			return nil, err
		}
		return []datamodel.Node{l}, nil
	case datamodel.Kind_Bytes:
		bs, err := n.AsBytes()
		if err != nil {
			return nil, err
		}
		from, to := seg.bounds(int64(len(bs)))
		if !b.spend(int(to-from) / 16) {
			return nil, errBudget
		}
		return []datamodel.Node{basicnode.NewBytes(append([]byte(nil), bs[from:to]...))}, nil
	case datamodel.Kind_String:
		s, err := n.AsString()
		if err != nil {
			return nil, err
		}
		if !b.spend(len(s) / 16) {
			return nil, errBudget
		}
		cs := chars(s)
		from, to := seg.bounds(int64(len(cs)))
		return []datamodel.Node{basicnode.NewString(strings.Join(cs[from:to], ""))}, nil
	}
	return nil, fmt.Errorf("cannot slice %s", kindName(n))
}

// newList builds a list node holding elems (not copied deeply).
func newList(elems []datamodel.Node) (datamodel.Node, error) {
	nb := basicnode.Prototype.List.NewBuilder()
	la, err := nb.BeginList(int64(len(elems)))
	if err != nil {
		return nil, fmt.Errorf("building a list: %w", err)
	}
	for _, e := range elems {
		if err := la.AssembleValue().AssignNode(e); err != nil {
			return nil, fmt.Errorf("building a list: %w", err)
		}
	}
	if err := la.Finish(); err != nil {
		return nil, fmt.Errorf("building a list: %w", err)
	}
	return nb.Build(), nil
}
