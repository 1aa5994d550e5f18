package main

import (
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/server"
)

// schemaInfo describes the collections engine runs for GET /schema
// (server.Options.Collections and SchemaSources): each collection of spaces and of the
// service with its key rule, key field and writers (from its registration, or the one the
// engine made for a schema-only collection), its types and statuses (from the schema),
// whether it is schema-only and whether it has a machine; and the schema sources, system
// schema first.
func schemaInfo(engine *dag.Engine) ([]server.CollectionInfo, []server.SchemaSource) {
	sch := engine.Schema()
	var cols []server.CollectionInfo
	for _, k := range []struct {
		subjects collection.Subjects
		kind     schema.SubjectKind
		name     string
	}{
		{collection.Space, schema.SpaceSubject, server.SubjectSpace},
		{collection.Service, schema.ServiceSubject, server.SubjectService},
	} {
		for _, c := range engine.Collections(k.subjects) {
			sc, _ := sch.Collection(k.kind, c.Name) // the engine has no collection the schema lacks
			cols = append(cols, server.CollectionInfo{
				Subject:    k.name,
				Name:       c.Name,
				Key:        c.Key.String(),
				KeyField:   c.KeyField,
				Writers:    c.Writers.String(),
				Input:      sc.Input,
				State:      sc.State,
				Statuses:   sc.Statuses,
				SchemaOnly: sc.Generic,
				Machine:    c.Machine != nil && !sc.Generic,
			})
		}
	}
	var srcs []server.SchemaSource
	for _, s := range sch.Sources() {
		srcs = append(srcs, server.SchemaSource{Name: s.Name, Text: string(s.Text)})
	}
	return cols, srcs
}
