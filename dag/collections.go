package dag

import (
	"fmt"
	"slices"
	"strings"

	ipldschema "github.com/ipld/go-ipld-prime/schema"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/schema"
)

// Collection is a collection as the engine runs it: its description and its machine.
// Each machine package exports its own (store.Machine.Collection, upload.Collection, …);
// the composition root registers them in one list (Options.Collections).
type Collection struct {
	collection.Spec
	// Machine runs the collection's entries. Nil means no client put or remove runs: the
	// service writes the entries itself (Tx.Put) and clients get ErrUnknownCollection.
	// Schema-only collections (an extension's plain input type) need no Collection at
	// all: the engine runs them with RecordMachine.
	Machine Machine
}

// resolved is a collection of one kind of subject as the engine knows it: its
// registration (or the one the engine made for it) and its schema description.
type resolved struct {
	Collection
	schema schema.Collection
}

// registry holds the collections of each kind of subject.
type registry struct {
	space, service map[string]*resolved
	// names are the sorted names of each kind's collections, for errors.
	spaceNames, serviceNames []string
}

// kinds are the kinds of subject, each with the schema's name for it.
var kinds = []struct {
	subjects collection.Subjects
	schema   schema.SubjectKind
}{
	{collection.Space, SchemaKind(collection.Space)},
	{collection.Service, SchemaKind(collection.Service)},
}

// SchemaKind returns the schema's subject kind for k, collection.Space or
// collection.Service (0 for anything else).
func SchemaKind(k collection.Subjects) schema.SubjectKind {
	switch k {
	case collection.Space:
		return schema.SpaceSubject
	case collection.Service:
		return schema.ServiceSubject
	}
	return 0
}

// newRegistry checks the registered collections against the schema and fills in the
// schema's other collections: schema-only (generic) ones run RecordMachine, the rest have
// no machine.
func newRegistry(sch *schema.Schema, cols []Collection) (*registry, error) {
	r := &registry{space: map[string]*resolved{}, service: map[string]*resolved{}}
	seen := map[string]bool{}
	for _, c := range cols {
		if err := c.Spec.Check(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("%w: collection %q is registered twice", ErrConfig, c.Name)
		}
		seen[c.Name] = true
		for _, k := range kinds {
			if !c.Subjects.Has(k.subjects) {
				continue
			}
			sc, ok := sch.Collection(k.schema, c.Name)
			if !ok {
				return nil, fmt.Errorf("%w: collection %q is registered for the %s, but the schema's %s type has no such field", ErrConfig, c.Name, k.schema, k.schema.TypeName())
			}
			if err := checkAgainstSchema(sch, c, sc); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrConfig, err)
			}
			r.add(k.subjects, &resolved{Collection: c, schema: sc})
		}
	}
	for _, k := range kinds {
		for _, sc := range sch.Collections(k.schema) {
			if r.lookup(k.subjects, sc.Name) != nil {
				continue
			}
			c := Collection{Spec: collection.Spec{Name: sc.Name, Subjects: k.subjects, Type: sc.Entry}}
			if sc.Generic {
				c.Machine = RecordMachine{}
			}
			r.add(k.subjects, &resolved{Collection: c, schema: sc})
		}
	}
	slices.Sort(r.spaceNames)
	slices.Sort(r.serviceNames)
	return r, nil
}

// checkAgainstSchema checks that c's entry type and key field are what the schema says.
func checkAgainstSchema(sch *schema.Schema, c Collection, sc schema.Collection) error {
	if c.Type != "" && c.Type != sc.Entry {
		return fmt.Errorf("collection %q has entries of type %s in the schema, not %s", c.Name, sc.Entry, c.Type)
	}
	if c.KeyField != "" {
		st, ok := sch.TypeSystem().TypeByName(sc.Input).(*ipldschema.TypeStruct)
		if !ok || st.Field(c.KeyField) == nil {
			return fmt.Errorf("collection %q: input type %s has no key field %q", c.Name, sc.Input, c.KeyField)
		}
	}
	return nil
}

func (r *registry) add(k collection.Subjects, c *resolved) {
	if k == collection.Space {
		r.space[c.Name] = c
		r.spaceNames = append(r.spaceNames, c.Name)
	} else {
		r.service[c.Name] = c
		r.serviceNames = append(r.serviceNames, c.Name)
	}
}

func (r *registry) lookup(k collection.Subjects, name string) *resolved {
	if k == collection.Space {
		return r.space[name]
	}
	return r.service[name]
}

func (r *registry) names(k collection.Subjects) []string {
	if k == collection.Space {
		return r.spaceNames
	}
	return r.serviceNames
}

// subjectKind says whether subject is the service or a space; anything else is
// ErrInvalidPath.
func (e *Engine) subjectKind(subject string) (collection.Subjects, error) {
	if subject == e.service {
		return collection.Service, nil
	}
	if strings.HasPrefix(subject, "did:key:") {
		return collection.Space, nil
	}
	return 0, failure(ErrInvalidPath, "subject %s is neither the service nor a did:key space", subject)
}

func kindName(k collection.Subjects) string {
	if k == collection.Service {
		return "the service"
	}
	return "a space"
}

// resolve returns the collection p names and p in canonical form (its key checked against
// the collection's key rule and normalised). p must name a collection.
func (e *Engine) resolve(p Path) (*resolved, Path, error) {
	if err := collection.CheckSubject(p.Subject); err != nil {
		return nil, p, failure(ErrInvalidPath, "%s", err)
	}
	kind, err := e.subjectKind(p.Subject)
	if err != nil {
		return nil, p, err
	}
	if p.Collection == "" {
		return nil, p, failure(ErrInvalidPath, "%s names no collection", p)
	}
	c := e.reg.lookup(kind, p.Collection)
	if c == nil {
		return nil, p, failure(ErrUnknownCollection, "%s has no collection %q (%s has: %s)", kindName(kind), p.Collection, kindName(kind), strings.Join(e.reg.names(kind), ", "))
	}
	if p.Key != "" {
		key, err := c.CheckKey(p.Key)
		if err != nil {
			return nil, p, failure(ErrInvalidPath, "path %s: %s", p, err)
		}
		p.Key = key
	}
	return c, p, nil
}

// Canonical checks p against the collections of its subject and returns it in canonical
// form: keys of CID-keyed collections in their canonical string form. A path naming only
// a subject is checked for its kind. Failures are ErrInvalidPath (a key that breaks its
// collection's rule, a subject that is neither the service nor a space) and
// ErrUnknownCollection (naming the collections there are).
func (e *Engine) Canonical(p Path) (Path, error) {
	if p.Collection == "" {
		if err := collection.CheckSubject(p.Subject); err != nil {
			return p, failure(ErrInvalidPath, "%s", err)
		}
		_, err := e.subjectKind(p.Subject)
		return p, err
	}
	_, q, err := e.resolve(p)
	return q, err
}

// Collections returns the collections of the subject kind k (collection.Space or
// collection.Service), sorted by name: those registered, and those the engine runs for the
// schema (schema-only ones with RecordMachine; built-in ones nobody registered with no
// machine).
func (e *Engine) Collections(k collection.Subjects) []Collection {
	names := e.reg.names(k)
	cols := make([]Collection, 0, len(names))
	for _, n := range names {
		cols = append(cols, e.reg.lookup(k, n).Collection)
	}
	return cols
}

// PublicRead reports whether p is readable by any signed invocation without a proof: its
// subject is the service and it names an entry, or a field or the whole, of a service
// collection whose Spec sets PublicRead. Paths naming only a subject, a space's entries
// and unknown collections are not.
func (e *Engine) PublicRead(p Path) bool {
	if p.Subject != e.service || p.Collection == "" {
		return false
	}
	c := e.reg.lookup(collection.Service, p.Collection)
	return c != nil && c.PublicRead
}
