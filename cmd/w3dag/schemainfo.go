package main

import (
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
)

// schemaInfo describes the collections engine runs for GET /schema (server.Options.Schema):
// each collection of spaces and of the service with its key rule, key field and writers
// (from its registration, or the one the engine made for a schema-only collection), its
// types and statuses (from the schema), whether it is schema-only, whether it has a
// machine and whether anyone may read it (publicReads: serve --public-service-reads); and
// the schema sources, system schema first.
func schemaInfo(engine *dag.Engine, publicReads bool) *collection.Description {
	sch := engine.Schema()
	var d collection.Description
	for _, k := range []struct {
		subjects collection.Subjects
		into     *[]collection.Info
	}{
		{collection.Space, &d.Collections.Space},
		{collection.Service, &d.Collections.Service},
	} {
		for _, c := range engine.Collections(k.subjects) {
			sc, _ := sch.Collection(dag.SchemaKind(k.subjects), c.Name) // the engine has no collection the schema lacks
			info := c.Info()
			info.Input, info.State, info.Statuses = sc.Input, sc.State, sc.Statuses
			info.SchemaOnly = sc.Generic
			info.Machine = c.Machine != nil && !sc.Generic
			// Public reads are of the service's collections only, and only when on.
			info.PublicRead = publicReads && k.subjects == collection.Service && c.PublicRead
			*k.into = append(*k.into, info)
		}
	}
	for _, s := range sch.Sources() {
		d.Sources = append(d.Sources, collection.Source{Name: s.Name, Text: string(s.Text)})
	}
	return &d
}
