package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/collection"
)

// schemaUsage is the usage of `w3dag schema`.
const schemaUsage = `usage: w3dag schema [--json] [--source] [--url URL]

List the service's collections (GET /schema): for spaces and for the service, each
collection's key rule, key field, who writes it, input and state types, statuses and
whether it is schema-only. --json prints the whole document; --source prints the IPLD
schema sources (system schema and extensions) instead. No agent key is needed.

example:
  w3dag schema --url http://127.0.0.1:8080`

// runSchema implements `w3dag schema`.
func runSchema(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("schema", schemaUsage, stderr)
	source := fs.Bool("source", false, "print the schema sources (system schema, then extensions)")
	if _, code, ok := parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	s, err := client.FetchSchema(ctx, nil, cf.serviceURL())
	if err != nil {
		return fail(stderr, "schema", err)
	}
	switch {
	case cf.json:
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return fail(stderr, "schema", err)
		}
		fmt.Fprintf(stdout, "%s\n", b)
	case *source:
		for i, src := range s.Sources {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stdout, "# ---- %s ----\n%s", src.Name, src.Text)
			if !strings.HasSuffix(src.Text, "\n") {
				fmt.Fprintln(stdout)
			}
		}
	default:
		printSchema(stdout, s)
	}
	return 0
}

// printSchema prints the collections as a table, then the names of the sources.
func printSchema(w io.Writer, s *client.Schema) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBJECT\tCOLLECTION\tKEY\tKEY FIELD\tWRITTEN BY\tINPUT\tSTATE\tKIND\tSTATUSES")
	row := func(subject string, c collection.Info) {
		keyField, kind := c.KeyField, "machine"
		if keyField == "" {
			keyField = "-"
		}
		switch {
		case c.SchemaOnly:
			kind = "schema-only"
		case !c.Machine:
			kind = "records" // the service writes the entries itself
		}
		writers := c.Writers
		if writers == "authority" {
			writers = "anyone with authority"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", subject, c.Name, c.Key, keyField, writers, c.Input, c.State, kind, strings.Join(c.Statuses, " "))
	}
	for _, c := range s.Collections.Space {
		row("space", c)
	}
	for _, c := range s.Collections.Service {
		row("service", c)
	}
	tw.Flush()
	if len(s.Sources) > 0 {
		names := make([]string, len(s.Sources))
		for i, src := range s.Sources {
			names[i] = fmt.Sprintf("%s (%d lines)", src.Name, strings.Count(src.Text, "\n"))
		}
		fmt.Fprintf(w, "\nschema: %s  (w3dag schema --source prints them)\n", strings.Join(names, ", "))
	}
}
