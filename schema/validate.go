package schema

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	ipldschema "github.com/ipld/go-ipld-prime/schema"
)

// Validation limits, so that untrusted values cannot exhaust the stack or
// produce unbounded error messages.
const (
	// MaxDepth is the deepest nesting of maps and lists Validate walks,
	// inside Any values too; deeper values are invalid.
	MaxDepth = 100
	// MaxErrorPath is the longest ValidationError.Path in bytes; longer
	// paths keep their end and start with "…".
	MaxErrorPath = 512
	// MaxErrorValue is the longest quotation of a string from the value
	// (a key, a discriminant) in an error message, in bytes.
	MaxErrorValue = 64
)

// MaxExactFloatInt is the largest magnitude of an Int accepted where the
// schema expects a Float: every integer up to 2^53 is exactly a float64.
const MaxExactFloatInt = 1 << 53

// Validate checks n against the type named typeName, walking the compiled
// schema: structs (map, tuple, stringjoin and listpairs representations),
// maps, lists, links, enums, scalars, Any (which includes null) and keyed,
// kinded, inline and stringprefix unions. Values are read in their
// representation form (the form DAG-JSON and DAG-CBOR decoders produce);
// a schema.TypedNode is validated through its Representation.
//
// Where the schema says Float, an Int of magnitude up to MaxExactFloatInt is
// accepted too: DAG-JSON writers print a whole float such as 10.0 as 10,
// which decodes as an Int. Values that are stored should go through
// Normalize, which turns those Ints into Floats.
//
// A value that does not match returns a *ValidationError (wrapping
// ErrInvalid) for the first problem found; an unknown typeName returns an
// error wrapping ErrUnknownType.
func (s *Schema) Validate(typeName string, n datamodel.Node) error {
	_, err := s.validate(typeName, n)
	return err
}

// Normalize validates n against the type named typeName like Validate and
// returns the value to store: n itself, or, when Ints were accepted where
// the schema says Float, a copy of n with each of them turned into the equal
// Float. So {"x": 10} and {"x": 10.0} for a Float field x are the same value
// with the same CID, whichever form a client sends.
func (s *Schema) Normalize(typeName string, n datamodel.Node) (datamodel.Node, error) {
	v, err := s.validate(typeName, n)
	if err != nil {
		return nil, err
	}
	if tn, ok := n.(ipldschema.TypedNode); ok {
		n = tn.Representation()
	}
	if len(v.ints) == 0 {
		return n, nil
	}
	// One pass: every map and list on the way to an Int is copied once, whatever the
	// number of Ints below it (a transform per Int would copy them once per Int).
	root := &intTrie{}
	for _, p := range v.ints {
		t := root
		for _, seg := range p.Segments() {
			t = t.child(seg.String())
		}
		t.leaf = true
	}
	out, err := root.convert(n, datamodel.Path{})
	if err != nil {
		return nil, fmt.Errorf("schema: turning ints into floats: %w", err)
	}
	return out, nil
}

// intTrie holds the paths of the Ints Normalize turns into Floats, by segment.
type intTrie struct {
	leaf bool
	kids map[string]*intTrie
}

func (t *intTrie) child(seg string) *intTrie {
	if t.kids == nil {
		t.kids = map[string]*intTrie{}
	}
	c, ok := t.kids[seg]
	if !ok {
		c = &intTrie{}
		t.kids[seg] = c
	}
	return c
}

// convert returns n with the Ints t marks turned into Floats, copying only the maps and
// lists on the way to them. at is n's path, for errors.
func (t *intTrie) convert(n datamodel.Node, at datamodel.Path) (datamodel.Node, error) {
	if t.leaf {
		i, err := n.AsInt()
		if err != nil {
			return nil, fmt.Errorf("at %s: %w", at, err)
		}
		return basicnode.NewFloat(float64(i)), nil
	}
	switch n.Kind() {
	case datamodel.Kind_Map:
		nb := basicnode.Prototype.Map.NewBuilder()
		ma, err := nb.BeginMap(n.Length())
		if err != nil {
			return nil, err
		}
		for it := n.MapIterator(); !it.Done(); {
			k, val, err := it.Next()
			if err != nil {
				return nil, fmt.Errorf("at %s: %w", at, err)
			}
			ks, err := k.AsString()
			if err != nil {
				return nil, fmt.Errorf("at %s: map key: %w", at, err)
			}
			if c := t.kids[ks]; c != nil {
				if val, err = c.convert(val, at.AppendSegmentString(ks)); err != nil {
					return nil, err
				}
			}
			if err := ma.AssembleKey().AssignString(ks); err != nil {
				return nil, err
			}
			if err := ma.AssembleValue().AssignNode(val); err != nil {
				return nil, err
			}
		}
		if err := ma.Finish(); err != nil {
			return nil, err
		}
		return nb.Build(), nil
	case datamodel.Kind_List:
		nb := basicnode.Prototype.List.NewBuilder()
		la, err := nb.BeginList(n.Length())
		if err != nil {
			return nil, err
		}
		for it := n.ListIterator(); !it.Done(); {
			i, val, err := it.Next()
			if err != nil {
				return nil, fmt.Errorf("at %s: %w", at, err)
			}
			if c := t.kids[strconv.FormatInt(i, 10)]; c != nil {
				if val, err = c.convert(val, at.AppendSegmentInt(i)); err != nil {
					return nil, err
				}
			}
			if err := la.AssembleValue().AssignNode(val); err != nil {
				return nil, err
			}
		}
		if err := la.Finish(); err != nil {
			return nil, err
		}
		return nb.Build(), nil
	}
	return nil, fmt.Errorf("at %s: a %s holds no ints to convert", at, n.Kind())
}

func (s *Schema) validate(typeName string, n datamodel.Node) (*validator, error) {
	t := s.ts.TypeByName(typeName)
	if t == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownType, quote(typeName))
	}
	if tn, ok := n.(ipldschema.TypedNode); ok {
		n = tn.Representation()
	}
	v := &validator{s: s}
	if err := v.check(t, n, 0); err != nil {
		return nil, err
	}
	return v, nil
}

// validator carries the path of the value being checked, both as shown in
// errors and as data model segments (they differ inside listpairs structs,
// whose fields are shown by name but sit at [index, 1]).
type validator struct {
	s    *Schema
	path []string
	// data holds the data model segments of the elements of path, one or two each
	// (a listpairs value is [i, 1]): how many is in pairs, set where path has a pair.
	data  []datamodel.PathSegment
	pairs []bool
	ints  []datamodel.Path // where an Int was accepted for a Float
}

func (v *validator) fail(t ipldschema.Type, format string, args ...any) error {
	return &ValidationError{Path: v.pointer(), Type: displayName(t), Message: fmt.Sprintf(format, args...)}
}

func (v *validator) push(seg string) {
	v.path = append(v.path, seg)
	v.data = append(v.data, datamodel.PathSegmentOfString(seg))
	v.pairs = append(v.pairs, false)
}

// pushPair enters the value of the i-th [key, value] pair of a listpairs struct.
func (v *validator) pushPair(key string, i int64) {
	v.path = append(v.path, key)
	v.data = append(v.data, datamodel.PathSegmentOfInt(i), datamodel.PathSegmentOfInt(1))
	v.pairs = append(v.pairs, true)
}

func (v *validator) pop() {
	v.path = v.path[:len(v.path)-1]
	n := 1
	if v.pairs[len(v.pairs)-1] {
		n = 2
	}
	v.pairs = v.pairs[:len(v.pairs)-1]
	v.data = v.data[:len(v.data)-n]
}

// dataPath is the data model path of the value being checked.
func (v *validator) dataPath() datamodel.Path {
	if len(v.data) == 0 {
		return datamodel.Path{}
	}
	return datamodel.NewPath(v.data) // a copy: data changes as the walk goes on
}

// checkFloat accepts a Float, or an Int of magnitude up to MaxExactFloatInt
// (recorded for Normalize).
func (v *validator) checkFloat(t ipldschema.Type, n datamodel.Node) error {
	if n.Kind() != datamodel.Kind_Int {
		return v.scalar(t, n, datamodel.Kind_Float, "reading float", func() error { _, err := n.AsFloat(); return err })
	}
	i, err := n.AsInt()
	if err != nil {
		return v.fail(t, "integer out of range: %v", err)
	}
	if i > MaxExactFloatInt || i < -MaxExactFloatInt {
		return v.fail(t, "expected a float, got the int %d, which a float cannot hold exactly (write it as a float)", i)
	}
	v.ints = append(v.ints, v.dataPath())
	return nil
}

// pointer renders the path as an RFC 6901 JSON pointer, shortened from the
// front to MaxErrorPath bytes.
func (v *validator) pointer() string {
	if len(v.path) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, seg := range v.path {
		b.WriteByte('/')
		b.WriteString(escapeSegment(seg))
	}
	p := b.String()
	if len(p) > MaxErrorPath {
		cut := len(p) - (MaxErrorPath - len("…"))
		for cut < len(p) && !utf8.RuneStart(p[cut]) {
			cut++
		}
		p = "…" + p[cut:]
	}
	return p
}

// escapeSegment escapes "~" and "/" as in RFC 6901 and shows control
// characters and invalid UTF-8 as Go escapes, so paths stay printable.
func escapeSegment(seg string) string {
	seg = strings.ReplaceAll(seg, "~", "~0")
	seg = strings.ReplaceAll(seg, "/", "~1")
	printable := utf8.ValidString(seg)
	for _, r := range seg {
		if r < 0x20 || r == 0x7f {
			printable = false
			break
		}
	}
	if printable {
		return seg
	}
	q := strconv.Quote(seg)
	return q[1 : len(q)-1]
}

// quote quotes a string from the value for an error message, shortened to
// MaxErrorValue bytes.
func quote(s string) string {
	if len(s) <= MaxErrorValue {
		return strconv.Quote(s)
	}
	cut := MaxErrorValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

func kindArticle(k datamodel.Kind) string {
	switch k {
	case datamodel.Kind_Null:
		return "null"
	case datamodel.Kind_Bytes:
		return "bytes"
	case datamodel.Kind_Int:
		return "an int"
	default:
		return "a " + k.String()
	}
}

func (v *validator) expectKind(t ipldschema.Type, n datamodel.Node, want datamodel.Kind) error {
	if got := n.Kind(); got != want {
		return v.fail(t, "expected %s, got %s", kindArticle(want), got)
	}
	return nil
}

// scalar checks that n is of kind want and that read (n's As… accessor) succeeds; a
// read error is reported as "what: err".
func (v *validator) scalar(t ipldschema.Type, n datamodel.Node, want datamodel.Kind, what string, read func() error) error {
	if err := v.expectKind(t, n, want); err != nil {
		return err
	}
	if err := read(); err != nil {
		return v.fail(t, "%s: %v", what, err)
	}
	return nil
}

func (v *validator) check(t ipldschema.Type, n datamodel.Node, depth int) error {
	if depth > MaxDepth {
		return v.fail(t, "value is nested deeper than %d levels", MaxDepth)
	}
	if n == nil || n.IsAbsent() {
		return v.fail(t, "value is absent")
	}
	switch t := t.(type) {
	case *ipldschema.TypeAny:
		return v.walkAny(t, n, depth)
	case *ipldschema.TypeBool:
		return v.scalar(t, n, datamodel.Kind_Bool, "reading bool", func() error { _, err := n.AsBool(); return err })
	case *ipldschema.TypeString:
		return v.scalar(t, n, datamodel.Kind_String, "reading string", func() error { _, err := n.AsString(); return err })
	case *ipldschema.TypeBytes:
		return v.scalar(t, n, datamodel.Kind_Bytes, "reading bytes", func() error { _, err := n.AsBytes(); return err })
	case *ipldschema.TypeInt:
		return v.scalar(t, n, datamodel.Kind_Int, "integer out of range", func() error { _, err := n.AsInt(); return err })
	case *ipldschema.TypeFloat:
		return v.checkFloat(t, n)
	case *ipldschema.TypeLink:
		if err := v.expectKind(t, n, datamodel.Kind_Link); err != nil {
			return err
		}
		if l, err := n.AsLink(); err != nil || l == nil {
			return v.fail(t, "reading link: %v", err)
		}
	case *ipldschema.TypeEnum:
		return v.checkEnum(t, n)
	case *ipldschema.TypeMap:
		return v.checkMap(t, n, depth)
	case *ipldschema.TypeList:
		return v.checkList(t, n, depth)
	case *ipldschema.TypeStruct:
		return v.checkStruct(t, n, depth)
	case *ipldschema.TypeUnion:
		return v.checkUnion(t, n, depth)
	default:
		return v.fail(t, "unsupported schema type kind %s", t.TypeKind())
	}
	return nil
}

// walkAny accepts every data model value, null included, but still walks
// it to enforce MaxDepth and to surface nodes that fail to read.
func (v *validator) walkAny(t ipldschema.Type, n datamodel.Node, depth int) error {
	if depth > MaxDepth {
		return v.fail(t, "value is nested deeper than %d levels", MaxDepth)
	}
	switch n.Kind() {
	case datamodel.Kind_Map:
		return v.eachEntry(t, n, func(ks string, val datamodel.Node) error {
			v.push(ks)
			if err := v.walkAny(t, val, depth+1); err != nil {
				return err
			}
			v.pop()
			return nil
		})
	case datamodel.Kind_List:
		return v.eachElem(t, n, func(i int64, val datamodel.Node) error {
			v.push(strconv.FormatInt(i, 10))
			if err := v.walkAny(t, val, depth+1); err != nil {
				return err
			}
			v.pop()
			return nil
		})
	case datamodel.Kind_Invalid:
		return v.fail(t, "value has an invalid kind")
	}
	return nil
}

func (v *validator) checkEnum(t *ipldschema.TypeEnum, n datamodel.Node) error {
	switch rp := t.RepresentationStrategy().(type) {
	case ipldschema.EnumRepresentation_Int:
		if err := v.expectKind(t, n, datamodel.Kind_Int); err != nil {
			return err
		}
		i, err := n.AsInt()
		if err != nil {
			return v.fail(t, "integer out of range: %v", err)
		}
		var allowed []string
		for _, m := range t.Members() {
			if want, ok := rp[m]; ok {
				if int64(want) == i {
					return nil
				}
				allowed = append(allowed, strconv.Itoa(want))
			}
		}
		return v.fail(t, "%d is not a member of the enum (expected one of %s)", i, strings.Join(allowed, ", "))
	default:
		if err := v.expectKind(t, n, datamodel.Kind_String); err != nil {
			return err
		}
		s, err := n.AsString()
		if err != nil {
			return v.fail(t, "reading string: %v", err)
		}
		strRepr, _ := rp.(ipldschema.EnumRepresentation_String)
		var allowed []string
		for _, m := range t.Members() {
			want := m
			if r, ok := strRepr[m]; ok {
				want = r
			}
			if want == s {
				return nil
			}
			allowed = append(allowed, strconv.Quote(want))
		}
		return v.fail(t, "%s is not a member of the enum (expected one of %s)", quote(s), strings.Join(allowed, ", "))
	}
}

// checkKey validates a map key (a string) against the map's key type.
func (v *validator) checkKey(t ipldschema.Type, key string, depth int) error {
	if _, ok := t.(*ipldschema.TypeString); ok {
		return nil
	}
	return v.check(t, basicnode.NewString(key), depth)
}

func (v *validator) checkMap(t *ipldschema.TypeMap, n datamodel.Node, depth int) error {
	if err := v.expectKind(t, n, datamodel.Kind_Map); err != nil {
		return err
	}
	return v.eachEntry(t, n, func(ks string, val datamodel.Node) error {
		v.push(ks)
		if err := v.checkKey(t.KeyType(), ks, depth+1); err != nil {
			return err
		}
		if err := v.checkElem(t.ValueType(), t.ValueIsNullable(), val, depth+1, "map"); err != nil {
			return err
		}
		v.pop()
		return nil
	})
}

// eachEntry calls fn with each entry of the map n (of type t), in order, stopping at the
// first error.
func (v *validator) eachEntry(t ipldschema.Type, n datamodel.Node, fn func(key string, val datamodel.Node) error) error {
	it := n.MapIterator()
	if it == nil {
		return v.fail(t, "map has no iterator")
	}
	for !it.Done() {
		k, val, err := it.Next()
		if err != nil {
			return v.fail(t, "reading map: %v", err)
		}
		ks, err := k.AsString()
		if err != nil {
			return v.fail(t, "map key is not a string: %v", err)
		}
		if err := fn(ks, val); err != nil {
			return err
		}
	}
	return nil
}

// eachElem calls fn with each element of the list n (of type t) and its index, in order,
// stopping at the first error.
func (v *validator) eachElem(t ipldschema.Type, n datamodel.Node, fn func(i int64, val datamodel.Node) error) error {
	it := n.ListIterator()
	if it == nil {
		return v.fail(t, "list has no iterator")
	}
	for !it.Done() {
		i, val, err := it.Next()
		if err != nil {
			return v.fail(t, "reading list: %v", err)
		}
		if err := fn(i, val); err != nil {
			return err
		}
	}
	return nil
}

// checkElem validates a map or list value of type vt; null passes only when the
// container's values are nullable (or of type Any).
func (v *validator) checkElem(vt ipldschema.Type, nullable bool, val datamodel.Node, depth int, container string) error {
	if val.IsNull() && !isAny(vt) {
		if !nullable {
			return v.fail(vt, "null is not allowed (%s values are not nullable)", container)
		}
		return nil
	}
	return v.check(vt, val, depth)
}

func (v *validator) checkList(t *ipldschema.TypeList, n datamodel.Node, depth int) error {
	if err := v.expectKind(t, n, datamodel.Kind_List); err != nil {
		return err
	}
	return v.eachElem(t, n, func(i int64, val datamodel.Node) error {
		v.push(strconv.FormatInt(i, 10))
		if err := v.checkElem(t.ValueType(), t.ValueIsNullable(), val, depth+1, "list"); err != nil {
			return err
		}
		v.pop()
		return nil
	})
}

// checkField validates the value of one struct field, at the current path.
func (v *validator) checkField(f ipldschema.StructField, val datamodel.Node, depth int) error {
	if val.IsNull() {
		if f.IsNullable() || isAny(f.Type()) {
			return nil
		}
		if f.IsOptional() {
			return v.fail(f.Type(), "null is not allowed (field %s is optional, not nullable: leave it out instead)", f.Name())
		}
		return v.fail(f.Type(), "null is not allowed (field %s is not nullable)", f.Name())
	}
	return v.check(f.Type(), val, depth)
}

func (v *validator) checkStruct(t *ipldschema.TypeStruct, n datamodel.Node, depth int) error {
	switch rp := t.RepresentationStrategy().(type) {
	case ipldschema.StructRepresentation_Map:
		return v.checkStructMap(t, rp, n, depth, "")
	case ipldschema.StructRepresentation_Tuple:
		return v.checkStructTuple(t, n, depth)
	case ipldschema.StructRepresentation_Stringjoin:
		return v.checkStructStringjoin(t, rp, n, depth)
	case ipldschema.StructRepresentation_ListPairs:
		return v.checkStructListPairs(t, n, depth)
	default:
		return v.fail(t, "unsupported struct representation %T", rp)
	}
}

// checkStructMap validates a struct with map representation; skip is a key
// to ignore (the discriminant of an inline union), "" for none.
func (v *validator) checkStructMap(t *ipldschema.TypeStruct, rp ipldschema.StructRepresentation_Map, n datamodel.Node, depth int, skip string) error {
	if err := v.expectKind(t, n, datamodel.Kind_Map); err != nil {
		return err
	}
	fields := t.Fields()
	byKey := make(map[string]int, len(fields))
	for i, f := range fields {
		byKey[rp.GetFieldKey(f)] = i
	}
	seen := make([]bool, len(fields))
	err := v.eachEntry(t, n, func(ks string, val datamodel.Node) error {
		if skip != "" && ks == skip {
			return nil
		}
		i, ok := byKey[ks]
		if !ok {
			return v.fail(t, "unknown field %s", quote(ks))
		}
		seen[i] = true
		v.push(ks)
		if err := v.checkField(fields[i], val, depth+1); err != nil {
			return err
		}
		v.pop()
		return nil
	})
	if err != nil {
		return err
	}
	for i, f := range fields {
		if !seen[i] && !f.IsOptional() && rp.FieldImplicit(f) == nil {
			return v.fail(t, "missing required field %s", quote(rp.GetFieldKey(f)))
		}
	}
	return nil
}

func (v *validator) checkStructTuple(t *ipldschema.TypeStruct, n datamodel.Node, depth int) error {
	if err := v.expectKind(t, n, datamodel.Kind_List); err != nil {
		return err
	}
	fields := t.Fields()
	required := 0
	for _, f := range fields {
		if !f.IsOptional() {
			required++
		}
	}
	l := n.Length()
	if l < int64(required) || l > int64(len(fields)) {
		if required == len(fields) {
			return v.fail(t, "expected a list of %d elements, got %d", len(fields), l)
		}
		return v.fail(t, "expected a list of %d to %d elements, got %d", required, len(fields), l)
	}
	for i := int64(0); i < l; i++ {
		val, err := n.LookupByIndex(i)
		if err != nil {
			return v.fail(t, "reading list: %v", err)
		}
		v.push(strconv.FormatInt(i, 10))
		if err := v.checkField(fields[i], val, depth+1); err != nil {
			return err
		}
		v.pop()
	}
	return nil
}

func (v *validator) checkStructStringjoin(t *ipldschema.TypeStruct, rp ipldschema.StructRepresentation_Stringjoin, n datamodel.Node, depth int) error {
	if err := v.expectKind(t, n, datamodel.Kind_String); err != nil {
		return err
	}
	s, err := n.AsString()
	if err != nil {
		return v.fail(t, "reading string: %v", err)
	}
	fields := t.Fields()
	parts := strings.SplitN(s, rp.GetDelim(), len(fields)+1)
	if len(parts) != len(fields) {
		return v.fail(t, "expected %d parts joined by %s, got %d", len(fields), quote(rp.GetDelim()), len(parts))
	}
	for i, f := range fields {
		v.push(f.Name())
		if err := v.check(f.Type(), basicnode.NewString(parts[i]), depth+1); err != nil {
			return err
		}
		v.pop()
	}
	return nil
}

func (v *validator) checkStructListPairs(t *ipldschema.TypeStruct, n datamodel.Node, depth int) error {
	if err := v.expectKind(t, n, datamodel.Kind_List); err != nil {
		return err
	}
	fields := t.Fields()
	seen := make([]bool, len(fields))
	err := v.eachElem(t, n, func(i int64, pair datamodel.Node) error {
		if pair.Kind() != datamodel.Kind_List || pair.Length() != 2 {
			v.push(strconv.FormatInt(i, 10))
			if pair.Kind() == datamodel.Kind_List {
				return v.fail(t, "expected a [key, value] pair, got a list of %d", pair.Length())
			}
			return v.fail(t, "expected a [key, value] pair, got %s", pair.Kind())
		}
		kn, err := pair.LookupByIndex(0)
		if err != nil {
			return v.fail(t, "reading pair: %v", err)
		}
		ks, err := kn.AsString()
		if err != nil {
			v.push(strconv.FormatInt(i, 10))
			v.push("0")
			return v.fail(t, "expected a string key, got %s", kn.Kind())
		}
		val, err := pair.LookupByIndex(1)
		if err != nil {
			return v.fail(t, "reading pair: %v", err)
		}
		fi := slices.IndexFunc(fields, func(f ipldschema.StructField) bool { return f.Name() == ks })
		if fi < 0 {
			return v.fail(t, "unknown field %s", quote(ks))
		}
		if seen[fi] {
			return v.fail(t, "field %s appears twice", quote(ks))
		}
		seen[fi] = true
		v.pushPair(ks, i)
		if err := v.checkField(fields[fi], val, depth+1); err != nil {
			return err
		}
		v.pop()
		return nil
	})
	if err != nil {
		return err
	}
	for i, f := range fields {
		if !seen[i] && !f.IsOptional() {
			return v.fail(t, "missing required field %s", quote(f.Name()))
		}
	}
	return nil
}

func (v *validator) checkUnion(t *ipldschema.TypeUnion, n datamodel.Node, depth int) error {
	if in, ok := v.s.inline[t.Name()]; ok {
		return v.checkInline(t, in, n, depth)
	}
	switch rp := t.RepresentationStrategy().(type) {
	case ipldschema.UnionRepresentation_Keyed:
		if err := v.expectKind(t, n, datamodel.Kind_Map); err != nil {
			return err
		}
		if l := n.Length(); l != 1 {
			return v.fail(t, "keyed union must have exactly one key, got %d", l)
		}
		it := n.MapIterator()
		if it == nil {
			return v.fail(t, "map has no iterator")
		}
		k, val, err := it.Next()
		if err != nil {
			return v.fail(t, "reading map: %v", err)
		}
		ks, err := k.AsString()
		if err != nil {
			return v.fail(t, "map key is not a string: %v", err)
		}
		var keys []string
		for _, m := range t.Members() {
			d := rp.GetDiscriminant(m)
			if d == ks {
				v.push(ks)
				if err := v.check(m, val, depth+1); err != nil {
					return err
				}
				v.pop()
				return nil
			}
			keys = append(keys, strconv.Quote(d))
		}
		return v.fail(t, "unknown union key %s (expected one of %s)", quote(ks), strings.Join(keys, ", "))
	case ipldschema.UnionRepresentation_Kinded:
		name := rp.GetMember(n.Kind())
		if name == "" {
			var kinds []string
			for _, m := range t.Members() {
				if k := reprKind(m); k != datamodel.Kind_Invalid {
					kinds = append(kinds, k.String())
				}
			}
			return v.fail(t, "expected one of the kinds %s, got %s", strings.Join(kinds, ", "), n.Kind())
		}
		return v.check(v.s.ts.TypeByName(name), n, depth)
	case ipldschema.UnionRepresentation_Stringprefix:
		if err := v.expectKind(t, n, datamodel.Kind_String); err != nil {
			return err
		}
		s, err := n.AsString()
		if err != nil {
			return v.fail(t, "reading string: %v", err)
		}
		var prefixes []string
		for _, m := range t.Members() {
			p := rp.GetDiscriminant(m)
			if strings.HasPrefix(s, p) {
				return v.check(m, basicnode.NewString(s[len(p):]), depth)
			}
			prefixes = append(prefixes, strconv.Quote(p))
		}
		return v.fail(t, "%s has none of the prefixes %s", quote(s), strings.Join(prefixes, ", "))
	default:
		return v.fail(t, "unsupported union representation %T", rp)
	}
}

func (v *validator) checkInline(t *ipldschema.TypeUnion, in inlineRepr, n datamodel.Node, depth int) error {
	if err := v.expectKind(t, n, datamodel.Kind_Map); err != nil {
		return err
	}
	dn, err := n.LookupByString(in.key)
	if err != nil || dn == nil || dn.IsAbsent() {
		return v.fail(t, "missing discriminant key %s", quote(in.key))
	}
	v.push(in.key)
	d, err := dn.AsString()
	if err != nil {
		return v.fail(t, "discriminant must be a string, got %s", dn.Kind())
	}
	member, ok := in.table[d]
	if !ok {
		allowed := make([]string, len(in.order))
		for i, o := range in.order {
			allowed[i] = strconv.Quote(o)
		}
		return v.fail(t, "unknown %s %s (expected one of %s)", in.key, quote(d), strings.Join(allowed, ", "))
	}
	v.pop()
	mt, ok := v.s.ts.TypeByName(member).(*ipldschema.TypeStruct)
	if !ok {
		return v.fail(t, "inline union member %s is not a struct", member)
	}
	rp, ok := mt.RepresentationStrategy().(ipldschema.StructRepresentation_Map)
	if !ok {
		return v.fail(t, "inline union member %s does not have map representation", member)
	}
	return v.checkStructMap(mt, rp, n, depth, in.key)
}

// isAny reports whether t is Any, whose values include null.
func isAny(t ipldschema.Type) bool {
	_, ok := t.(*ipldschema.TypeAny)
	return ok
}

// reprKind is the data model kind of a type's representation, or
// Kind_Invalid when it has several (Any, kinded unions).
func reprKind(t ipldschema.Type) datamodel.Kind {
	switch t := t.(type) {
	case *ipldschema.TypeBool:
		return datamodel.Kind_Bool
	case *ipldschema.TypeString:
		return datamodel.Kind_String
	case *ipldschema.TypeBytes:
		return datamodel.Kind_Bytes
	case *ipldschema.TypeInt:
		return datamodel.Kind_Int
	case *ipldschema.TypeFloat:
		return datamodel.Kind_Float
	case *ipldschema.TypeLink:
		return datamodel.Kind_Link
	case *ipldschema.TypeMap:
		return datamodel.Kind_Map
	case *ipldschema.TypeList:
		return datamodel.Kind_List
	case *ipldschema.TypeEnum:
		if _, ok := t.RepresentationStrategy().(ipldschema.EnumRepresentation_Int); ok {
			return datamodel.Kind_Int
		}
		return datamodel.Kind_String
	case *ipldschema.TypeStruct:
		switch t.RepresentationStrategy().(type) {
		case ipldschema.StructRepresentation_Map:
			return datamodel.Kind_Map
		case ipldschema.StructRepresentation_Tuple, ipldschema.StructRepresentation_ListPairs:
			return datamodel.Kind_List
		case ipldschema.StructRepresentation_Stringjoin:
			return datamodel.Kind_String
		}
	case *ipldschema.TypeUnion:
		switch t.RepresentationStrategy().(type) {
		case ipldschema.UnionRepresentation_Keyed, ipldschema.UnionRepresentation_Inline, ipldschema.UnionRepresentation_Envelope:
			return datamodel.Kind_Map
		case ipldschema.UnionRepresentation_Stringprefix:
			return datamodel.Kind_String
		}
	}
	return datamodel.Kind_Invalid
}

// stringKeyType reports whether t can be a map key type: its
// representation is a string.
func stringKeyType(t ipldschema.Type) bool {
	return reprKind(t) == datamodel.Kind_String
}

// displayName names a type as the DSL writes it: anonymous types the
// compiler names Map__K__V, List__V and Link__T become {K:V}, [V] and &T.
func displayName(t ipldschema.Type) string {
	if t == nil {
		return "?"
	}
	name := t.Name()
	switch t := t.(type) {
	case *ipldschema.TypeMap:
		if strings.HasPrefix(name, "Map__") {
			vn := displayName(t.ValueType())
			if t.ValueIsNullable() {
				vn = "nullable " + vn
			}
			return "{" + displayName(t.KeyType()) + ":" + vn + "}"
		}
	case *ipldschema.TypeList:
		if strings.HasPrefix(name, "List__") {
			vn := displayName(t.ValueType())
			if t.ValueIsNullable() {
				vn = "nullable " + vn
			}
			return "[" + vn + "]"
		}
	case *ipldschema.TypeLink:
		if strings.HasPrefix(name, "Link__") {
			if t.HasReferencedType() {
				return "&" + t.ReferencedType().Name()
			}
			return "&Any"
		}
	}
	return name
}
