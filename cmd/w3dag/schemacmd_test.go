package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/server"
	"github.com/w3dag/w3dag/ucan/did"
)

func TestSchemaInfo(t *testing.T) {
	sch, err := schema.LoadSources(schema.Source{Name: "pins.ipldsch", Text: []byte("type Space struct {\n  pins {String:Pin}\n}\ntype Pin struct {\n  root &Any\n}\n")})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := dag.Open(t.Context(), dag.Options{KV: mem.New(), Signer: mustSigner(t), Schema: sch, Collections: machines.Builtin(dag.RecordMachine{})}) // any machine stands in for the store machine
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	d := schemaInfo(engine, true)
	type row struct{ subject, key, keyField, writers, input, state string }
	want := map[string]row{
		"space/store":       {"space", "car-cid", "link", "authority", "StoreInput", "StoreStatus"},
		"space/upload":      {"space", "cid", "root", "authority", "UploadInput", "UploadStatus"},
		"space/usage":       {"space", "string", "", "service", "UsageRecord", "UsageStatus"},
		"space/metrics":     {"space", "string", "", "service", "MetricInput", "MetricStatus"},
		"space/pins":        {"space", "string", "", "authority", "Pin", "RecordStatus"},
		"service/carwhere":  {"service", "car-cid", "", "service", "CarwhereInput", "CarwhereStatus"},
		"service/piece":     {"service", "car-cid", "content", "service", "PieceInput", "PieceStatus"},
		"service/aggregate": {"service", "string", "", "service", "AggregateInput", "AggregateStatus"},
		"service/task":      {"service", "cid", "", "service", "TaskInput", "TaskStatus"},
		"service/metrics":   {"service", "string", "", "service", "MetricInput", "MetricStatus"},
	}
	if n := len(d.Collections.Space) + len(d.Collections.Service); n != len(want) {
		t.Fatalf("%d collections, want %d: %+v", n, len(want), d.Collections)
	}
	for subject, cols := range map[string][]collection.Info{"space": d.Collections.Space, "service": d.Collections.Service} {
		for _, c := range cols {
			w, ok := want[subject+"/"+c.Name]
			got := row{subject, c.Key, c.KeyField, c.Writers, c.Input, c.State}
			hasMachine := map[string]bool{"store": true, "upload": true, "metrics": true, "carwhere": true, "piece": true, "aggregate": true}[c.Name]
			public := subject == "service" && map[string]bool{"metrics": true, "carwhere": true, "piece": true, "aggregate": true}[c.Name]
			if c.PublicRead != public {
				t.Errorf("%s/%s: publicRead %v, want %v", subject, c.Name, c.PublicRead, public)
			}
			if !ok || got != w || len(c.Statuses) == 0 || c.SchemaOnly != (c.Name == "pins") || c.Machine != hasMachine {
				t.Errorf("%s/%s: %+v, want %+v", subject, c.Name, c, w)
			}
		}
	}
	srcs := d.Sources
	if len(srcs) != 2 || srcs[0].Name != schema.SystemSourceName || srcs[1].Name != "pins.ipldsch" || !strings.Contains(srcs[1].Text, "type Pin struct") {
		t.Errorf("sources %+v", srcs)
	}
	// What schemaInfo gives is what server.New accepts.
	if _, err := server.New(server.Options{Service: mustSigner(t), Runner: nopServer{}, Store: nopServer{}, Archive: nopServer{}, Schema: d}); err != nil {
		t.Fatalf("server.New refuses the description: %v", err)
	}
}

func TestSchemaCommand(t *testing.T) {
	clearEnv(t)
	url := startServer(t)
	t.Setenv("W3DAG_CONFIG", t.TempDir())
	out, stderr, code := cli(t, "schema", "--url", url)
	if code != 0 {
		t.Fatalf("schema: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		`(?m)^SUBJECT +COLLECTION +KEY +KEY FIELD +WRITTEN BY +INPUT +STATE +KIND +STATUSES$`,
		`(?m)^space +store +car-cid +link +anyone with authority +StoreInput +StoreStatus +machine +queued pending done expired failed removed$`,
		`(?m)^space +pins +string +- +anyone with authority +Pin +RecordStatus +schema-only +done removed$`,
		`(?m)^service +task +cid +- +service +TaskInput +TaskStatus +records `,
		`(?m)^schema: system.ipldsch \(\d+ lines\), \S*pins.ipldsch \(16 lines\)`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}

	out, stderr, code = cli(t, "schema", "--url", url, "--json")
	var doc client.Schema
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil {
		t.Fatalf("schema --json: exit %d %s %q", code, stderr, out)
	}
	if up, ok := doc.Collection("space", "upload"); !ok || up.Input != "UploadInput" || up.Key != "cid" {
		t.Errorf("upload in --json: %+v", up)
	}

	out, _, code = cli(t, "schema", "--url", url, "--source")
	if code != 0 || !strings.HasPrefix(out, "# ---- system.ipldsch ----\n# w3dag system schema.") || !strings.Contains(out, "pins.ipldsch ----\n# An example schema extension") {
		t.Errorf("schema --source: exit %d\n%s", code, out)
	}

	if _, stderr, code := cli(t, "schema", "--url", "http://127.0.0.1:1"); code != 1 || !strings.Contains(stderr, "w3dag schema: client: fetching schema") {
		t.Errorf("schema against nothing: exit %d %s", code, stderr)
	}
	if _, _, code := cli(t, "schema", "extra"); code != 2 {
		t.Errorf("schema with an argument: exit %d", code)
	}
}

// nopServer satisfies the interfaces server.New requires; GET /schema uses none of them.
type nopServer struct {
	server.Runner
	server.Store
	server.Archive
}

func mustSigner(t *testing.T) did.Signer {
	t.Helper()
	s, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
