package main

import (
	"fmt"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/server"
)

// schemaInfo describes sch for GET /schema (server.Options.Collections and
// SchemaSources): every collection of spaces and of the service with its key rule
// (dag.KeyRuleOf), who writes it (service collections and the system-written space
// collections are the service's; ops refuses other issuers), its types and statuses,
// and whether it is schema-only; and the schema sources, system schema first.
//
// This is the one place that knows where those rules live; when they move (collection
// descriptors), only this function changes.
func schemaInfo(sch *schema.Schema) ([]server.CollectionInfo, []server.SchemaSource, error) {
	var cols []server.CollectionInfo
	for _, subject := range []schema.SubjectKind{schema.SpaceSubject, schema.ServiceSubject} {
		for _, c := range sch.Collections(subject) {
			info := server.CollectionInfo{
				Subject:    server.SubjectSpace,
				Name:       c.Name,
				KeyField:   c.KeyField,
				Writers:    server.WritersAuthority,
				Input:      c.Input,
				State:      c.State,
				Statuses:   c.Statuses,
				SchemaOnly: c.Generic,
			}
			if subject == schema.ServiceSubject {
				info.Subject = server.SubjectService
			}
			if subject == schema.ServiceSubject || c.SystemWritten {
				info.Writers = server.WritersService
			}
			switch rule := dag.KeyRuleOf(c.Name); rule {
			case dag.KeyString:
				info.Key = server.KeyString
			case dag.KeyCID:
				info.Key = server.KeyCID
			case dag.KeyCARCID:
				info.Key = server.KeyCARCID
			default:
				return nil, nil, fmt.Errorf("describing the schema: collection %s has key rule %d, unknown to GET /schema", c.Name, rule)
			}
			cols = append(cols, info)
		}
	}
	var srcs []server.SchemaSource
	for _, s := range sch.Sources() {
		srcs = append(srcs, server.SchemaSource{Name: s.Name, Text: string(s.Text)})
	}
	return cols, srcs, nil
}
