package schema

import (
	"bytes"
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/ipld/go-ipld-prime/datamodel"
	ipldschema "github.com/ipld/go-ipld-prime/schema"
	schemadmt "github.com/ipld/go-ipld-prime/schema/dmt"
	schemadsl "github.com/ipld/go-ipld-prime/schema/dsl"
)

//go:embed system.ipldsch
var systemSource []byte

// SystemSource returns the text of the embedded system schema.
func SystemSource() []byte { return bytes.Clone(systemSource) }

// Limits on extension sources.
const (
	// MaxSourceSize is the largest schema source, in bytes, Load accepts.
	MaxSourceSize = 1 << 20
	// MaxCollectionName is the longest collection name, in bytes.
	MaxCollectionName = 64
)

// Names fixed by the system schema.
const (
	// SpaceType is the schema type of a space subject; extensions add
	// fields (collections) to it.
	SpaceType = "Space"
	// ServiceType is the schema type of the service subject.
	ServiceType = "Service"
	// StatusKey is the discriminant key of every state type.
	StatusKey = "status"
	// RecordStatusType is the state type of generic (schema-only)
	// collections: done {value Any} | removed {}.
	RecordStatusType = "RecordStatus"
	// StatusDone and StatusRemoved are the statuses of RecordStatusType.
	StatusDone    = "done"
	StatusRemoved = "removed"
	// EntryInputField and EntryStateField are the fields of an entry type,
	// the map value type of a typed collection.
	EntryInputField = "input"
	EntryStateField = "state"
)

// SubjectKind says whose collections a path addresses.
type SubjectKind int

const (
	// SpaceSubject is a space: a did:key owned by a user.
	SpaceSubject SubjectKind = iota + 1
	// ServiceSubject is the service itself (its own DID).
	ServiceSubject
)

// String returns "space" or "service".
func (k SubjectKind) String() string {
	switch k {
	case SpaceSubject:
		return "space"
	case ServiceSubject:
		return "service"
	default:
		return fmt.Sprintf("SubjectKind(%d)", int(k))
	}
}

// TypeName returns the schema type of the subject: SpaceType or ServiceType,
// or "" for an unknown kind.
func (k SubjectKind) TypeName() string {
	switch k {
	case SpaceSubject:
		return SpaceType
	case ServiceSubject:
		return ServiceType
	default:
		return ""
	}
}

// Collection describes one collection of a subject.
type Collection struct {
	// Name is the path segment of the collection, e.g. "store".
	Name string
	// Subject says whether the collection belongs to spaces or the service.
	Subject SubjectKind
	// Input is the name of the type a dag/put value must match.
	Input string
	// State is the name of the type of an entry's state (the out.ok of its
	// head receipt), an inline union on StatusKey.
	State string
	// Statuses are the values of the state's status key, in schema order.
	Statuses []string
	// Entry is the name of the collection's entry type (the value type of
	// its map, e.g. "StoreEntry"; for generic collections the input type).
	Entry string
	// Generic is true for collections an extension declared with a plain
	// input type: they have no machine of their own and follow the generic
	// record machine (put → done {value}, remove → removed), with State
	// RecordStatusType.
	Generic bool
}

// HasStatus reports whether status is one of c.Statuses.
func (c Collection) HasStatus(status string) bool { return slices.Contains(c.Statuses, status) }

// inlineRepr is the representation of an inline union, taken from the DMT
// because the compiled type keeps it unexported.
type inlineRepr struct {
	key   string
	order []string          // discriminant values in schema order
	table map[string]string // discriminant value → member type name
}

// Schema is a compiled system schema plus extensions. It is immutable and
// safe for concurrent use.
type Schema struct {
	ts          *ipldschema.TypeSystem
	inline      map[string]inlineRepr // union type name → inline representation
	collections map[SubjectKind][]Collection
}

// preludeTypes are defined by go-ipld-prime in every type system.
var preludeTypes = []string{"Bool", "Int", "Float", "String", "Bytes", "Any", "Map", "List", "Link"}

var collectionName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// Load compiles the system schema together with extension sources (IPLD
// schema DSL text) that add collections to Space; see the package
// documentation for the rules extensions follow. Errors wrap ErrSchema.
func Load(extra ...[]byte) (*Schema, error) {
	sys, err := parse(systemSource)
	if err != nil {
		return nil, fmt.Errorf("%w: system schema: %w", ErrSchema, err)
	}
	merged := &schemadmt.Schema{}
	merged.Types.Values = make(map[string]schemadmt.TypeDefn, len(sys.Types.Keys))
	origin := make(map[string]int, len(sys.Types.Keys)) // type name → extension index, -1 for system
	for _, name := range sys.Types.Keys {
		merged.Types.Keys = append(merged.Types.Keys, name)
		merged.Types.Values[name] = sys.Types.Values[name]
		origin[name] = -1
	}
	// Space is rebuilt with extension fields appended; copy it so the
	// parsed system DMT is never shared.
	space, err := structDefn(merged, SpaceType)
	if err != nil {
		return nil, fmt.Errorf("%w: system schema: %w", ErrSchema, err)
	}
	space = cloneStruct(space)
	merged.Types.Values[SpaceType] = schemadmt.TypeDefn{TypeDefnStruct: space}
	builtin := slices.Clone(space.Fields.Keys)
	fieldOrigin := make(map[string]int)

	for i, src := range extra {
		if len(src) > MaxSourceSize {
			return nil, fmt.Errorf("%w: extension %d: source is %d bytes, limit %d", ErrSchema, i, len(src), MaxSourceSize)
		}
		ext, err := parse(src)
		if err != nil {
			return nil, fmt.Errorf("%w: extension %d: %w", ErrSchema, i, err)
		}
		for _, name := range ext.Types.Keys {
			defn := ext.Types.Values[name]
			switch {
			case name == SpaceType:
				if err := extendSpace(space, defn, builtin, fieldOrigin, i); err != nil {
					return nil, fmt.Errorf("%w: extension %d: %w", ErrSchema, i, err)
				}
				continue
			case name == ServiceType:
				return nil, fmt.Errorf("%w: extension %d: type %s cannot be extended: extensions add collections to %s only", ErrSchema, i, ServiceType, SpaceType)
			case slices.Contains(preludeTypes, name):
				return nil, fmt.Errorf("%w: extension %d: type %s redefines a prelude type", ErrSchema, i, name)
			case strings.Contains(name, "__"):
				return nil, fmt.Errorf("%w: extension %d: type name %q: names containing \"__\" are reserved for anonymous types", ErrSchema, i, name)
			}
			if o, ok := origin[name]; ok {
				if o < 0 {
					return nil, fmt.Errorf("%w: extension %d: type %s redefines a system type", ErrSchema, i, name)
				}
				return nil, fmt.Errorf("%w: extension %d: type %s is already defined by extension %d", ErrSchema, i, name, o)
			}
			origin[name] = i
			merged.Types.Keys = append(merged.Types.Keys, name)
			merged.Types.Values[name] = defn
		}
	}

	// where names the source of a type for error messages.
	where := func(name string) string {
		if o, ok := origin[name]; ok && o >= 0 {
			return fmt.Sprintf("extension %d: ", o)
		}
		return ""
	}
	if owner, err := checkAnonymous(merged); err != nil {
		return nil, fmt.Errorf("%w: %s%w", ErrSchema, where(owner), err)
	}
	ts, err := compile(merged)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSchema, err)
	}
	s := &Schema{ts: ts, inline: make(map[string]inlineRepr), collections: make(map[SubjectKind][]Collection)}
	for _, name := range merged.Types.Keys {
		defn := merged.Types.Values[name]
		if defn.TypeDefnUnion == nil || defn.TypeDefnUnion.Representation.UnionRepresentation_Inline == nil {
			continue
		}
		rp := defn.TypeDefnUnion.Representation.UnionRepresentation_Inline
		s.inline[name] = inlineRepr{
			key:   rp.DiscriminantKey,
			order: slices.Clone(rp.DiscriminantTable.Keys),
			table: rp.DiscriminantTable.Values,
		}
	}
	if name, err := s.checkTypes(); err != nil {
		return nil, fmt.Errorf("%w: %s%w", ErrSchema, where(name), err)
	}
	for _, subject := range []SubjectKind{SpaceSubject, ServiceSubject} {
		cols, err := s.buildCollections(subject, fieldOrigin)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSchema, err)
		}
		s.collections[subject] = cols
	}
	return s, nil
}

// MustLoad is Load for sources known to be valid, such as the system schema
// alone; it panics on error.
func MustLoad(extra ...[]byte) *Schema {
	s, err := Load(extra...)
	if err != nil {
		panic(err)
	}
	return s
}

// parse runs the DSL parser, turning its panics on malformed input into
// errors, and rejects duplicate type names (which the parser lets through).
func parse(src []byte) (sch *schemadmt.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			// The go-ipld-prime parser panics on some malformed input,
			// e.g. an inline link as a member of an inline union.
			sch, err = nil, fmt.Errorf("parsing: malformed schema (the parser failed with: %v)", r)
		}
	}()
	sch, err = schemadsl.ParseBytes(src)
	if err != nil {
		return nil, fmt.Errorf("parsing: %w", err)
	}
	seen := make(map[string]bool, len(sch.Types.Keys))
	for _, name := range sch.Types.Keys {
		if seen[name] {
			return nil, fmt.Errorf("type %s is defined twice", name)
		}
		seen[name] = true
		if err := checkDefn(name, sch.Types.Values[name]); err != nil {
			return nil, err
		}
	}
	return sch, nil
}

// checkDefn rejects definitions the parser accepts but the compiler does
// not handle (it would panic on them), duplicate struct fields or keys, and
// kinded unions keyed by something that is not a kind.
func checkDefn(name string, defn schemadmt.TypeDefn) error {
	switch {
	case defn.TypeDefnCopy != nil:
		return fmt.Errorf("type %s: copy types (type A = B) are not supported", name)
	case defn.TypeDefnUnit != nil:
		return fmt.Errorf("type %s: unit types are not supported", name)
	case defn.TypeDefnStruct != nil:
		st := defn.TypeDefnStruct
		seen := make(map[string]bool, len(st.Fields.Keys))
		for _, f := range st.Fields.Keys {
			if seen[f] {
				return fmt.Errorf("type %s: field %s is defined twice", name, f)
			}
			seen[f] = true
		}
		if rp := st.Representation.StructRepresentation_Map; rp != nil && rp.Fields != nil {
			keys := make(map[string]string)
			for _, f := range st.Fields.Keys {
				key := f
				if d, ok := rp.Fields.Values[f]; ok && d.Rename != nil {
					key = *d.Rename
				}
				if other, dup := keys[key]; dup {
					return fmt.Errorf("type %s: fields %s and %s have the same key %q", name, other, f, key)
				}
				keys[key] = f
			}
		}
	case defn.TypeDefnUnion != nil:
		u := defn.TypeDefnUnion
		rp := u.Representation
		if rp.UnionRepresentation_Kinded != nil {
			for _, k := range rp.UnionRepresentation_Kinded.Keys {
				if parseKind(k) == datamodel.Kind_Invalid {
					return fmt.Errorf("type %s: %q is not a data model kind", name, k)
				}
			}
		}
	}
	return nil
}

// checkAnonymous rejects anonymous map and list types that differ only in
// the nullability of their values: go-ipld-prime gives both the same name
// (e.g. Map__String__Any) and silently uses the first for both.
// It returns the name of the type at fault with the error.
func checkAnonymous(sch *schemadmt.Schema) (string, error) {
	nullable := make(map[string]bool)
	var visit func(owner string, d schemadmt.TypeNameOrInlineDefn) error
	visit = func(owner string, d schemadmt.TypeNameOrInlineDefn) error {
		if d.InlineDefn == nil {
			return nil
		}
		var inner schemadmt.TypeNameOrInlineDefn
		var n *bool
		switch {
		case d.InlineDefn.TypeDefnMap != nil:
			inner, n = d.InlineDefn.TypeDefnMap.ValueType, d.InlineDefn.TypeDefnMap.ValueNullable
		case d.InlineDefn.TypeDefnList != nil:
			inner, n = d.InlineDefn.TypeDefnList.ValueType, d.InlineDefn.TypeDefnList.ValueNullable
		default:
			return nil
		}
		name := anonName(d)
		isNullable := n != nil && *n
		if prev, ok := nullable[name]; ok && prev != isNullable {
			return fmt.Errorf("type %s: anonymous types %s with and without nullable values cannot both be used (go-ipld-prime merges them); give one of them a name", owner, name)
		}
		nullable[name] = isNullable
		return visit(owner, inner)
	}
	for _, name := range sch.Types.Keys {
		defn := sch.Types.Values[name]
		var err error
		switch {
		case defn.TypeDefnStruct != nil:
			for _, f := range defn.TypeDefnStruct.Fields.Keys {
				if err = visit(name, defn.TypeDefnStruct.Fields.Values[f].Type); err != nil {
					break
				}
			}
		case defn.TypeDefnMap != nil:
			err = visit(name, defn.TypeDefnMap.ValueType)
		case defn.TypeDefnList != nil:
			err = visit(name, defn.TypeDefnList.ValueType)
		}
		if err != nil {
			return name, err
		}
	}
	return "", nil
}

// anonName is the name go-ipld-prime's compiler gives an anonymous type.
func anonName(d schemadmt.TypeNameOrInlineDefn) string {
	switch {
	case d.TypeName != nil:
		return *d.TypeName
	case d.InlineDefn == nil:
		return ""
	case d.InlineDefn.TypeDefnMap != nil:
		return "Map__" + d.InlineDefn.TypeDefnMap.KeyType + "__" + anonName(d.InlineDefn.TypeDefnMap.ValueType)
	case d.InlineDefn.TypeDefnList != nil:
		return "List__" + anonName(d.InlineDefn.TypeDefnList.ValueType)
	case d.InlineDefn.TypeDefnLink != nil && d.InlineDefn.TypeDefnLink.ExpectedType != nil:
		return "Link__" + *d.InlineDefn.TypeDefnLink.ExpectedType
	default:
		return "Link__Link"
	}
}

// compile builds the type system, turning compiler panics into errors.
func compile(sch *schemadmt.Schema) (ts *ipldschema.TypeSystem, err error) {
	defer func() {
		if r := recover(); r != nil {
			ts, err = nil, fmt.Errorf("compiling: %v", r)
		}
	}()
	ts = new(ipldschema.TypeSystem)
	ts.Init()
	if err := schemadmt.Compile(ts, sch); err != nil {
		return nil, fmt.Errorf("compiling: %w", err)
	}
	return ts, nil
}

func structDefn(sch *schemadmt.Schema, name string) (*schemadmt.TypeDefnStruct, error) {
	defn, ok := sch.Types.Values[name]
	if !ok || defn.TypeDefnStruct == nil {
		return nil, fmt.Errorf("type %s must be a struct", name)
	}
	return defn.TypeDefnStruct, nil
}

func cloneStruct(st *schemadmt.TypeDefnStruct) *schemadmt.TypeDefnStruct {
	c := *st
	c.Fields.Keys = slices.Clone(st.Fields.Keys)
	c.Fields.Values = make(map[string]schemadmt.StructField, len(st.Fields.Values))
	for k, v := range st.Fields.Values {
		c.Fields.Values[k] = v
	}
	return &c
}

// extendSpace appends the fields of an extension's Space struct to space.
func extendSpace(space *schemadmt.TypeDefnStruct, defn schemadmt.TypeDefn, builtin []string, fieldOrigin map[string]int, ext int) error {
	st := defn.TypeDefnStruct
	if st == nil {
		return fmt.Errorf("type %s must be a struct whose fields are the new collections", SpaceType)
	}
	if rp := st.Representation.StructRepresentation_Map; rp == nil || rp.Fields != nil {
		return fmt.Errorf("type %s must use the default map representation without renames or implicits", SpaceType)
	}
	if len(st.Fields.Keys) == 0 {
		return fmt.Errorf("type %s adds no collections", SpaceType)
	}
	for _, name := range st.Fields.Keys {
		f := st.Fields.Values[name]
		switch {
		case len(name) > MaxCollectionName:
			return fmt.Errorf("collection name %.16q… is longer than %d bytes", name, MaxCollectionName)
		case !collectionName.MatchString(name):
			return fmt.Errorf("collection name %q must be a letter followed by letters, digits or _", name)
		case slices.Contains(builtin, name):
			return fmt.Errorf("collection %s collides with the built-in collection of the same name", name)
		case f.Optional != nil && *f.Optional, f.Nullable != nil && *f.Nullable:
			return fmt.Errorf("collection %s must not be optional or nullable", name)
		}
		if o, ok := fieldOrigin[name]; ok {
			return fmt.Errorf("collection %s is already added by extension %d", name, o)
		}
		fieldOrigin[name] = ext
		space.Fields.Keys = append(space.Fields.Keys, name)
		space.Fields.Values[name] = f
	}
	return nil
}

// checkTypes enforces what the validator relies on and the compiler does
// not check. It returns the name of the type at fault with the error.
func (s *Schema) checkTypes() (string, error) {
	for _, name := range s.ts.Names() {
		switch t := s.ts.TypeByName(name).(type) {
		case *ipldschema.TypeMap:
			if !stringKeyType(t.KeyType()) {
				return name, fmt.Errorf("type %s: map key type %s must be a string type or an enum with string representation", displayName(t), t.KeyType().Name())
			}
		case *ipldschema.TypeStruct:
			if _, ok := t.RepresentationStrategy().(ipldschema.StructRepresentation_Tuple); ok {
				seenOptional := false
				for _, f := range t.Fields() {
					if f.IsOptional() {
						seenOptional = true
					} else if seenOptional {
						return name, fmt.Errorf("type %s: in a tuple, optional fields must come last (field %s)", name, f.Name())
					}
				}
			}
		case *ipldschema.TypeUnion:
			if in, ok := s.inline[name]; ok {
				for _, disc := range in.order {
					member := in.table[disc]
					mt, ok := s.ts.TypeByName(member).(*ipldschema.TypeStruct)
					if !ok {
						return name, fmt.Errorf("type %s: inline union member %s must be a struct", name, member)
					}
					rp, ok := mt.RepresentationStrategy().(ipldschema.StructRepresentation_Map)
					if !ok {
						return name, fmt.Errorf("type %s: inline union member %s must have map representation", name, member)
					}
					for _, f := range mt.Fields() {
						if rp.GetFieldKey(f) == in.key {
							return name, fmt.Errorf("type %s: member %s has a field with the discriminant key %q", name, member, in.key)
						}
					}
				}
			}
			if rp, ok := t.RepresentationStrategy().(ipldschema.UnionRepresentation_Kinded); ok {
				for _, m := range t.Members() {
					if _, any := m.(*ipldschema.TypeAny); any {
						continue
					}
					k := reprKind(m)
					if k == datamodel.Kind_Invalid || rp.GetMember(k) != m.Name() {
						return name, fmt.Errorf("type %s: kinded union member %s is not listed under its representation kind", name, m.Name())
					}
				}
			}
		}
	}
	return "", nil
}

// buildCollections reads the collections of a subject type.
func (s *Schema) buildCollections(subject SubjectKind, fieldOrigin map[string]int) ([]Collection, error) {
	st, ok := s.ts.TypeByName(subject.TypeName()).(*ipldschema.TypeStruct)
	if !ok {
		return nil, fmt.Errorf("type %s must be a struct", subject.TypeName())
	}
	var cols []Collection
	for _, f := range st.Fields() {
		where := fmt.Sprintf("%s collection %s", subject, f.Name())
		if o, ok := fieldOrigin[f.Name()]; ok && subject == SpaceSubject {
			where = fmt.Sprintf("extension %d: %s", o, where)
		}
		m, ok := f.Type().(*ipldschema.TypeMap)
		if !ok || m.ValueIsNullable() {
			return nil, fmt.Errorf("%s: type must be a map {String:Entry} with non-nullable values, got %s", where, displayName(f.Type()))
		}
		col := Collection{Name: f.Name(), Subject: subject, Entry: m.ValueType().Name()}
		_, fromExtension := fieldOrigin[f.Name()]
		if in, state, ok := entryFields(m.ValueType()); ok {
			col.Input, col.State = in.Name(), state.Name()
		} else {
			if !fromExtension || subject != SpaceSubject {
				return nil, fmt.Errorf("%s: system collections must have an entry type {input, state}", where)
			}
			col.Input, col.State, col.Generic = m.ValueType().Name(), RecordStatusType, true
		}
		in, ok := s.inline[col.State]
		if !ok || in.key != StatusKey {
			return nil, fmt.Errorf("%s: state type %s must be an inline union with discriminantKey %q", where, col.State, StatusKey)
		}
		col.Statuses = slices.Clone(in.order)
		cols = append(cols, col)
	}
	return cols, nil
}

// entryFields returns the input and state types of an entry type: a map
// struct with exactly the required fields input and state.
func entryFields(t ipldschema.Type) (input, state ipldschema.Type, ok bool) {
	st, isStruct := t.(*ipldschema.TypeStruct)
	if !isStruct || len(st.Fields()) != 2 {
		return nil, nil, false
	}
	rp, isMap := st.RepresentationStrategy().(ipldschema.StructRepresentation_Map)
	if !isMap {
		return nil, nil, false
	}
	in, stf := st.Field(EntryInputField), st.Field(EntryStateField)
	if in == nil || stf == nil || in.IsMaybe() || stf.IsMaybe() || rp.FieldHasRename(*in) || rp.FieldHasRename(*stf) {
		return nil, nil, false
	}
	return in.Type(), stf.Type(), true
}

// Collection returns the collection name of subject, if it exists.
func (s *Schema) Collection(subject SubjectKind, name string) (Collection, bool) {
	for _, c := range s.collections[subject] {
		if c.Name == name {
			c.Statuses = slices.Clone(c.Statuses)
			return c, true
		}
	}
	return Collection{}, false
}

// Collections returns the collections of subject in schema order: the
// system collections, then those of extensions in the order given to Load.
func (s *Schema) Collections(subject SubjectKind) []Collection {
	cols := make([]Collection, len(s.collections[subject]))
	for i, c := range s.collections[subject] {
		c.Statuses = slices.Clone(c.Statuses)
		cols[i] = c
	}
	return cols
}

// TypeSystem returns the compiled go-ipld-prime type system. Inline unions
// in it cannot be used with bindnode; use Validate for values.
func (s *Schema) TypeSystem() *ipldschema.TypeSystem { return s.ts }

// HasType reports whether the schema defines a type named name.
func (s *Schema) HasType(name string) bool { return s.ts.TypeByName(name) != nil }

// Status returns the status of a state value of the given state type (an
// inline union) after validating it against that type.
func (s *Schema) Status(stateType string, n datamodel.Node) (string, error) {
	in, ok := s.inline[stateType]
	if !ok {
		return "", fmt.Errorf("%w: %s is not an inline union", ErrUnknownType, stateType)
	}
	if err := s.Validate(stateType, n); err != nil {
		return "", err
	}
	if tn, ok := n.(ipldschema.TypedNode); ok {
		n = tn.Representation()
	}
	v, err := n.LookupByString(in.key)
	if err != nil {
		return "", fmt.Errorf("reading %s of %s: %w", in.key, stateType, err)
	}
	return v.AsString()
}

func parseKind(s string) datamodel.Kind {
	switch s {
	case "map":
		return datamodel.Kind_Map
	case "list":
		return datamodel.Kind_List
	case "null":
		return datamodel.Kind_Null
	case "bool":
		return datamodel.Kind_Bool
	case "int":
		return datamodel.Kind_Int
	case "float":
		return datamodel.Kind_Float
	case "string":
		return datamodel.Kind_String
	case "bytes":
		return datamodel.Kind_Bytes
	case "link":
		return datamodel.Kind_Link
	default:
		return datamodel.Kind_Invalid
	}
}
