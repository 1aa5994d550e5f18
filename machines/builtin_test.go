package machines_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/archive/logs"
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/blockindex"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/store"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/machines/usage"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan/did"
)

// TestBuiltin opens an engine with the built-in collections over the system schema: every
// registration matches the schema, and every collection the schema declares is registered.
func TestBuiltin(t *testing.T) {
	sch := schema.MustLoad()
	svc, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	cols := machines.Builtin(machinestest.StoreLike{})
	e, err := dag.Open(context.Background(), dag.Options{KV: mem.New(), Signer: svc, Schema: sch, Collections: cols})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	registered := map[string]collection.Subjects{}
	for _, c := range cols {
		registered[c.Name] = c.Subjects
	}
	for _, k := range []collection.Subjects{collection.Space, collection.Service} {
		for _, sc := range sch.Collections(dag.SchemaKind(k)) {
			if !registered[sc.Name].Has(k) {
				t.Errorf("%s collection %q of the system schema is not in machines.Builtin", k, sc.Name)
			}
		}
	}
}

// TestPrefixesDocumented checks that dag's documentation lists the kv prefix of every
// package that keeps keys through Tx.KV.
func TestPrefixesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../dag/doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{store.PendingPrefix, task.QueuePrefix, usage.CountedPrefix, archive.OutboxPrefix, machinestest.SizePrefix, aggregate.KVPrefix, piece.IndexPrefix, blockindex.Prefix, logs.Prefix} {
		if !strings.Contains(string(doc), "//\t"+p) {
			t.Errorf("dag/doc.go does not list the prefix %q", p)
		}
	}
}

// TestPublicReads pins which service collections anyone may read without a delegation
// (DESIGN §2): carwhere, piece, aggregate and the service's metrics, never task.
func TestPublicReads(t *testing.T) {
	var public []string
	for _, c := range machines.Builtin(machinestest.StoreLike{}) {
		if c.PublicRead {
			public = append(public, c.Name)
		}
	}
	if got, want := strings.Join(public, " "), "metrics carwhere piece aggregate"; got != want {
		t.Fatalf("public service collections %q, want %q", got, want)
	}
}
