package schema

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ipld/go-ipld-prime/datamodel"
	ipldschema "github.com/ipld/go-ipld-prime/schema"
	schemadmt "github.com/ipld/go-ipld-prime/schema/dmt"
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
	sources     []Source // system schema first, then the extensions
}

// preludeTypes are defined by go-ipld-prime in every type system.
var preludeTypes = []string{"Bool", "Int", "Float", "String", "Bytes", "Any", "Map", "List", "Link"}

var collectionName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// Load compiles the system schema together with extension sources (IPLD
// schema DSL text) that add collections to Space; see the package
// documentation for the rules extensions follow. It is LoadSources with
// unnamed sources: errors call them "extension 0", "extension 1", ….
func Load(extra ...[]byte) (*Schema, error) {
	srcs := make([]Source, len(extra))
	for i, text := range extra {
		srcs[i].Text = text
	}
	return LoadSources(srcs...)
}

// LoadSources compiles the system schema together with extension sources.
// Every error is a *LoadError (wrapping ErrSchema) naming the source and the
// line of the definition, field or syntax error at fault, e.g.
//
//	pins.ipldsch:9: union Pin: representation "envelope" is not supported (use inline or keyed)
func LoadSources(extra ...Source) (*Schema, error) {
	// sources[0] is the system schema, sources[i+1] extension i.
	sources := make([]Source, 0, len(extra)+1)
	sources = append(sources, Source{Name: SystemSourceName, Text: systemSource})
	for i, src := range extra {
		sources = append(sources, Source{Name: sourceName(src, i), Text: src.Text})
	}
	// place puts err in source k, finding the line of the definition it names.
	place := func(k int, err error) error {
		var le *LoadError
		if errors.As(err, &le) {
			return le
		}
		return locate(sources[k], err)
	}
	sys, err := parse(sources[0])
	if err != nil {
		return nil, place(0, err)
	}
	merged := &schemadmt.Schema{}
	merged.Types.Values = make(map[string]schemadmt.TypeDefn, len(sys.Types.Keys))
	origin := make(map[string]int, len(sys.Types.Keys)) // type name → index in sources
	for _, name := range sys.Types.Keys {
		merged.Types.Keys = append(merged.Types.Keys, name)
		merged.Types.Values[name] = sys.Types.Values[name]
		origin[name] = 0
	}
	// Space is rebuilt with extension fields appended; copy it so the
	// parsed system DMT is never shared.
	space, err := structDefn(merged, SpaceType)
	if err != nil {
		return nil, place(0, err)
	}
	space = cloneStruct(space)
	merged.Types.Values[SpaceType] = schemadmt.TypeDefn{TypeDefnStruct: space}
	builtin := slices.Clone(space.Fields.Keys)
	fieldOrigin := make(map[string]int) // collection added to Space → index in sources

	for k := 1; k < len(sources); k++ {
		src := sources[k]
		if len(src.Text) > MaxSourceSize {
			return nil, &LoadError{Source: src.Name, Err: fmt.Errorf("source is %d bytes, limit %d", len(src.Text), MaxSourceSize)}
		}
		ext, err := parse(src)
		if err != nil {
			return nil, place(k, err)
		}
		for _, name := range ext.Types.Keys {
			defn := ext.Types.Values[name]
			switch {
			case name == SpaceType:
				if err := extendSpace(space, defn, builtin, fieldOrigin, k, sources); err != nil {
					return nil, place(k, err)
				}
				continue
			case name == ServiceType:
				return nil, place(k, atType(name, "type %s cannot be extended: extensions add collections to %s only", ServiceType, SpaceType))
			case slices.Contains(preludeTypes, name):
				return nil, place(k, atType(name, "type %s redefines a prelude type", name))
			case strings.Contains(name, "__"):
				return nil, place(k, atType(name, "type name %q: names containing \"__\" are reserved for anonymous types", name))
			}
			if o, ok := origin[name]; ok {
				if o == 0 {
					return nil, place(k, atType(name, "type %s redefines a system type", name))
				}
				return nil, place(k, atType(name, "type %s is already defined by %s", name, sources[o].Name))
			}
			origin[name] = k
			merged.Types.Keys = append(merged.Types.Keys, name)
			merged.Types.Values[name] = defn
		}
	}

	// anon tells where each anonymous type ({K:V}, [V], &T) is first written.
	var anon map[string]anonOwner
	// placeType puts an error about a type (or, for Space, a collection) in the source
	// that defines it; an error about an anonymous type goes where it is written.
	placeType := func(err error) error {
		var de *defnError
		if !errors.As(err, &de) {
			return &LoadError{Source: sources[0].Name, Err: err}
		}
		if o, ok := anon[de.typ]; ok {
			de.typ, de.field = o.typ, o.field
		}
		if de.typ == SpaceType && de.field != "" {
			if k, ok := fieldOrigin[de.field]; ok {
				return place(k, err)
			}
		}
		return place(origin[de.typ], err)
	}
	anon, err = checkAnonymous(merged)
	if err != nil {
		return nil, placeType(err)
	}
	ts, err := compile(merged, anon)
	if err != nil {
		return nil, placeType(err)
	}
	s := &Schema{ts: ts, inline: make(map[string]inlineRepr), collections: make(map[SubjectKind][]Collection), sources: sources}
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
	if err := s.checkTypes(); err != nil {
		return nil, placeType(err)
	}
	for _, subject := range []SubjectKind{SpaceSubject, ServiceSubject} {
		cols, err := s.buildCollections(subject, fieldOrigin)
		if err != nil {
			return nil, placeType(err)
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

// Sources returns the schema's sources: the system schema (named
// SystemSourceName) first, then the extensions in the order given to Load,
// each with the name errors call it by.
func (s *Schema) Sources() []Source {
	out := make([]Source, len(s.sources))
	for i, src := range s.sources {
		out[i] = Source{Name: src.Name, Text: bytes.Clone(src.Text)}
	}
	return out
}

// parse runs the DSL parser on src, turning its panics and unsupported-feature errors
// into clear *LoadErrors, and rejects duplicate type names (which the parser lets
// through) and definitions checkDefn refuses.
func parse(src Source) (*schemadmt.Schema, error) {
	sch, err := tryParse(src.Text)
	var pp *parserPanic
	switch {
	case errors.As(err, &pp):
		// Point at the definition the parser failed in.
		le := &LoadError{Source: src.Name, Line: panicLine(src.Text), Err: err}
		if _, name, at := typeAt(splitLines(src.Text), le.Line); at > 0 {
			le.Line, le.Err = at, fmt.Errorf("type %s: %w", name, err)
		}
		return nil, le
	case err != nil:
		return nil, parseError(src, err)
	}
	seen := make(map[string]bool, len(sch.Types.Keys))
	for _, name := range sch.Types.Keys {
		if seen[name] {
			return nil, atType(name, "type %s is defined twice", name)
		}
		seen[name] = true
		if err := checkDefn(name, sch.Types.Values[name]); err != nil {
			return nil, err
		}
	}
	return sch, nil
}

// checkDefn rejects definitions the parser accepts but the compiler does
// not handle (it would panic on them or fail with a "TODO"), duplicate struct
// fields or keys, and kinded unions keyed by something that is not a kind.
func checkDefn(name string, defn schemadmt.TypeDefn) error {
	switch {
	case defn.TypeDefnCopy != nil:
		return atType(name, "type %s: copy types (type A = B) are not supported", name)
	case defn.TypeDefnUnit != nil:
		return atType(name, "type %s: unit types are not supported", name)
	case defn.TypeDefnStruct != nil:
		st := defn.TypeDefnStruct
		seen := make(map[string]bool, len(st.Fields.Keys))
		for _, f := range st.Fields.Keys {
			if seen[f] {
				return atField(name, f, "type %s: field %s is defined twice", name, f)
			}
			seen[f] = true
		}
		rp := st.Representation
		switch {
		case rp.StructRepresentation_Stringpairs != nil:
			return atWord(name, "stringpairs", "struct %s: representation \"stringpairs\" is not supported (use map, tuple, stringjoin or listpairs)", name)
		case rp.StructRepresentation_Tuple != nil && rp.StructRepresentation_Tuple.FieldOrder != nil:
			return atWord(name, "tuple", "struct %s: tuple representation with a fieldOrder is not supported (order the fields instead)", name)
		case rp.StructRepresentation_Map != nil && rp.StructRepresentation_Map.Fields != nil:
			keys := make(map[string]string)
			for _, f := range st.Fields.Keys {
				key := f
				d, ok := rp.StructRepresentation_Map.Fields.Values[f]
				if ok && d.Rename != nil {
					key = *d.Rename
				}
				if ok && d.Implicit != nil && d.Implicit.Bool == nil && d.Implicit.String == nil && d.Implicit.Int == nil {
					return atField(name, f, "struct %s: field %s: only bool, string and int implicit values are supported", name, f)
				}
				if other, dup := keys[key]; dup {
					return atField(name, f, "type %s: fields %s and %s have the same key %q", name, other, f, key)
				}
				keys[key] = f
			}
		}
	case defn.TypeDefnUnion != nil:
		rp := defn.TypeDefnUnion.Representation
		switch {
		case rp.UnionRepresentation_Envelope != nil:
			return atWord(name, "envelope", "union %s: representation \"envelope\" is not supported (use inline or keyed)", name)
		case rp.UnionRepresentation_BytesPrefix != nil:
			return atWord(name, "bytesprefix", "union %s: representation \"bytesprefix\" is not supported (use keyed, kinded, inline or stringprefix)", name)
		case rp.UnionRepresentation_Kinded != nil:
			for _, k := range rp.UnionRepresentation_Kinded.Keys {
				if parseKind(k) == datamodel.Kind_Invalid {
					return atWord(name, k, "type %s: %q is not a data model kind", name, k)
				}
			}
		}
	case defn.TypeDefnMap != nil:
		if rp := defn.TypeDefnMap.Representation; rp != nil && rp.MapRepresentation_Map == nil {
			return atType(name, "map %s: only the default map representation is supported", name)
		}
	case defn.TypeDefnList != nil:
		if rp := defn.TypeDefnList.Representation; rp != nil && rp.ListRepresentation_List == nil {
			return atType(name, "list %s: only the default list representation is supported", name)
		}
	}
	return nil
}

// anonOwner is where an anonymous type is first written: a type and its field.
type anonOwner struct{ typ, field string }

// checkAnonymous rejects anonymous map and list types that differ only in
// the nullability of their values: go-ipld-prime gives both the same name
// (e.g. Map__String__Any) and silently uses the first for both. It returns
// where each anonymous type is first written, to place compiler errors about
// them.
func checkAnonymous(sch *schemadmt.Schema) (map[string]anonOwner, error) {
	nullable := make(map[string]bool)
	owners := make(map[string]anonOwner)
	var visit func(owner anonOwner, d schemadmt.TypeNameOrInlineDefn) error
	visit = func(owner anonOwner, d schemadmt.TypeNameOrInlineDefn) error {
		if d.InlineDefn == nil {
			return nil
		}
		name := anonName(d)
		if _, ok := owners[name]; !ok {
			owners[name] = owner
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
		isNullable := n != nil && *n
		if prev, ok := nullable[name]; ok && prev != isNullable {
			return atField(owner.typ, owner.field, "type %s: anonymous types %s with and without nullable values cannot both be used (go-ipld-prime merges them); give one of them a name", owner.typ, name)
		}
		nullable[name] = isNullable
		return visit(owner, inner)
	}
	for _, name := range sch.Types.Keys {
		defn := sch.Types.Values[name]
		switch {
		case defn.TypeDefnStruct != nil:
			for _, f := range defn.TypeDefnStruct.Fields.Keys {
				if err := visit(anonOwner{name, f}, defn.TypeDefnStruct.Fields.Values[f].Type); err != nil {
					return nil, err
				}
			}
		case defn.TypeDefnMap != nil:
			if err := visit(anonOwner{typ: name}, defn.TypeDefnMap.ValueType); err != nil {
				return nil, err
			}
		case defn.TypeDefnList != nil:
			if err := visit(anonOwner{typ: name}, defn.TypeDefnList.ValueType); err != nil {
				return nil, err
			}
		}
	}
	return owners, nil
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

// missingType matches go-ipld-prime's graph errors: "type A refers to missing type B
// (in field "f")" and friends.
var missingType = regexp.MustCompile(`^type (\S+) refers to missing type (\S+) \((.*)\)$`)

// compile builds the type system one type at a time, so that an error names
// the type at fault, turning compiler panics into errors. Errors about
// anonymous types are placed where anon says they are written.
func compile(sch *schemadmt.Schema, anon map[string]anonOwner) (ts *ipldschema.TypeSystem, err error) {
	current := ""
	defer func() {
		if r := recover(); r != nil {
			ts, err = nil, atType(current, "type %s: compiling: %v", current, r)
		}
	}()
	ts = new(ipldschema.TypeSystem)
	ts.Init()
	ipldschema.SpawnDefaultBasicTypes(ts)
	for _, name := range sch.Types.Keys {
		current = name
		one := &schemadmt.Schema{}
		one.Types.Keys = []string{name}
		one.Types.Values = map[string]schemadmt.TypeDefn{name: sch.Types.Values[name]}
		if err := schemadmt.SpawnSchemaTypes(ts, one); err != nil {
			msg := err.Error()
			if strings.Contains(msg, "TODO") {
				// checkDefn rejects what go-ipld-prime leaves as TODO; should one
				// slip through, say so without the TODO.
				msg = "unsupported schema feature: " + strings.TrimSpace(strings.ReplaceAll(msg, "TODO:", ""))
			}
			return nil, atType(name, "type %s: %s", name, msg)
		}
	}
	errs := ts.ValidateGraph()
	if len(errs) == 0 {
		return ts, nil
	}
	// ValidateGraph walks a map: report the error of the earliest type, for a stable
	// message.
	order := make(map[string]int, len(sch.Types.Keys))
	for i, name := range sch.Types.Keys {
		order[name] = i
	}
	var best error
	bestOrder := len(sch.Types.Keys) + 1
	for _, e := range errs {
		m := missingType.FindStringSubmatch(e.Error())
		if m == nil {
			if best == nil {
				best = atType("", "%v", e)
			}
			continue
		}
		typ, field := m[1], ""
		if f, ok := strings.CutPrefix(m[3], "in field "); ok {
			field, _ = strconv.Unquote(f)
		}
		if o, ok := anon[typ]; ok {
			typ, field = o.typ, o.field
		}
		i, ok := order[typ]
		if !ok {
			i = len(sch.Types.Keys)
		}
		if i < bestOrder || (i == bestOrder && e.Error() < best.Error()) {
			where := "type " + typ
			if field != "" {
				where += " field " + field
			}
			best, bestOrder = atField(typ, field, "%s: unknown type %s", where, m[2]), i
		}
	}
	return nil, best
}

func structDefn(sch *schemadmt.Schema, name string) (*schemadmt.TypeDefnStruct, error) {
	defn, ok := sch.Types.Values[name]
	if !ok || defn.TypeDefnStruct == nil {
		return nil, atType(name, "type %s must be a struct", name)
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

// extendSpace appends the fields of the Space struct of extension sources[k] to space.
func extendSpace(space *schemadmt.TypeDefnStruct, defn schemadmt.TypeDefn, builtin []string, fieldOrigin map[string]int, k int, sources []Source) error {
	st := defn.TypeDefnStruct
	if st == nil {
		return atType(SpaceType, "type %s must be a struct whose fields are the new collections", SpaceType)
	}
	if rp := st.Representation.StructRepresentation_Map; rp == nil || rp.Fields != nil {
		return atWord(SpaceType, "representation", "type %s must use the default map representation without renames or implicits", SpaceType)
	}
	if len(st.Fields.Keys) == 0 {
		return atType(SpaceType, "type %s adds no collections", SpaceType)
	}
	for _, name := range st.Fields.Keys {
		f := st.Fields.Values[name]
		switch {
		case len(name) > MaxCollectionName:
			return atField(SpaceType, name, "collection name %.16q… is longer than %d bytes", name, MaxCollectionName)
		case !collectionName.MatchString(name):
			return atField(SpaceType, name, "collection name %q must be a letter followed by letters, digits or _", name)
		case slices.Contains(builtin, name):
			return atField(SpaceType, name, "collection %s collides with the built-in collection of the same name", name)
		case f.Optional != nil && *f.Optional, f.Nullable != nil && *f.Nullable:
			return atField(SpaceType, name, "collection %s must not be optional or nullable", name)
		}
		if o, ok := fieldOrigin[name]; ok {
			return atField(SpaceType, name, "collection %s is already added by %s", name, sources[o].Name)
		}
		fieldOrigin[name] = k
		space.Fields.Keys = append(space.Fields.Keys, name)
		space.Fields.Values[name] = f
	}
	return nil
}

// checkTypes enforces what the validator relies on and the compiler does
// not check.
func (s *Schema) checkTypes() error {
	for _, name := range s.ts.Names() {
		switch t := s.ts.TypeByName(name).(type) {
		case *ipldschema.TypeMap:
			if !stringKeyType(t.KeyType()) {
				return atType(name, "type %s: map key type %s must be a string type or an enum with string representation", displayName(t), t.KeyType().Name())
			}
		case *ipldschema.TypeStruct:
			if _, ok := t.RepresentationStrategy().(ipldschema.StructRepresentation_Tuple); ok {
				seenOptional := false
				for _, f := range t.Fields() {
					if f.IsOptional() {
						seenOptional = true
					} else if seenOptional {
						return atField(name, f.Name(), "type %s: in a tuple, optional fields must come last (field %s)", name, f.Name())
					}
				}
			}
		case *ipldschema.TypeUnion:
			if in, ok := s.inline[name]; ok {
				for _, disc := range in.order {
					member := in.table[disc]
					mt, ok := s.ts.TypeByName(member).(*ipldschema.TypeStruct)
					if !ok {
						return atField(name, member, "type %s: inline union member %s must be a struct", name, member)
					}
					rp, ok := mt.RepresentationStrategy().(ipldschema.StructRepresentation_Map)
					if !ok {
						return atField(name, member, "type %s: inline union member %s must have map representation", name, member)
					}
					for _, f := range mt.Fields() {
						if rp.GetFieldKey(f) == in.key {
							return atField(name, member, "type %s: member %s has a field with the discriminant key %q", name, member, in.key)
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
						return atField(name, m.Name(), "type %s: kinded union member %s is not listed under its representation kind", name, m.Name())
					}
				}
			}
		}
	}
	return nil
}

// buildCollections reads the collections of a subject type.
func (s *Schema) buildCollections(subject SubjectKind, fieldOrigin map[string]int) ([]Collection, error) {
	st, ok := s.ts.TypeByName(subject.TypeName()).(*ipldschema.TypeStruct)
	if !ok {
		return nil, atType(subject.TypeName(), "type %s must be a struct", subject.TypeName())
	}
	var cols []Collection
	for _, f := range st.Fields() {
		where := fmt.Sprintf("%s collection %s", subject, f.Name())
		typ, field := subject.TypeName(), f.Name()
		m, ok := f.Type().(*ipldschema.TypeMap)
		if !ok || m.ValueIsNullable() {
			return nil, atField(typ, field, "%s: type must be a map {String:Entry} with non-nullable values, got %s", where, displayName(f.Type()))
		}
		col := Collection{Name: f.Name(), Subject: subject, Entry: m.ValueType().Name()}
		_, fromExtension := fieldOrigin[f.Name()]
		if in, state, ok := entryFields(m.ValueType()); ok {
			col.Input, col.State = in.Name(), state.Name()
		} else {
			if !fromExtension || subject != SpaceSubject {
				return nil, atField(typ, field, "%s: system collections must have an entry type {input, state}", where)
			}
			col.Input, col.State, col.Generic = m.ValueType().Name(), RecordStatusType, true
		}
		in, ok := s.inline[col.State]
		if !ok || in.key != StatusKey {
			return nil, atField(typ, field, "%s: state type %s must be an inline union with discriminantKey %q", where, col.State, StatusKey)
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
