package dag_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/internal/imports"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

func TestCanonical(t *testing.T) {
	v := newEnv(t, nil)
	sp := v.space
	car := carCID("x")
	for _, tc := range []struct {
		name string
		in   dag.Path
		want string // canonical String(), or "" when an error is expected
		err  error
		msg  string
	}{
		{"car cid", dag.Path{Subject: sp, Collection: "store", Key: car.String()}, "/" + sp + "/store/" + car.String(), nil, ""},
		{"other base normalised", dag.Path{Subject: sp, Collection: "store", Key: must(car.StringOfBase('z'))}, "/" + sp + "/store/" + car.String(), nil, ""},
		{"fields kept", dag.Path{Subject: sp, Collection: "store", Key: must(car.StringOfBase('z')), Fields: []string{"status"}}, "/" + sp + "/store/" + car.String() + "/status", nil, ""},
		{"string key as written", dag.Path{Subject: sp, Collection: "notes", Key: must(car.StringOfBase('z'))}, "/" + sp + "/notes/" + must(car.StringOfBase('z')), nil, ""},
		{"collection only", dag.Path{Subject: sp, Collection: "upload"}, "/" + sp + "/upload", nil, ""},
		{"subject only", dag.Path{Subject: sp}, "/" + sp, nil, ""},
		{"raw cid in store", dag.Path{Subject: sp, Collection: "store", Key: rawCID("x").String()}, "", dag.ErrInvalidPath, "must be a CAR CID"},
		{"not a cid in upload", dag.Path{Subject: sp, Collection: "upload", Key: "notacid"}, "", dag.ErrInvalidPath, "must be a CID"},
		{"unknown collection", dag.Path{Subject: sp, Collection: "stroe"}, "", dag.ErrUnknownCollection, `a space has no collection "stroe" (a space has: metrics, notes, store, upload, usage)`},
		{"space collection on the service", dag.Path{Subject: v.service.DID(), Collection: "store"}, "", dag.ErrUnknownCollection, "the service has: aggregate, carwhere, metrics, piece, task"},
		{"neither space nor service", dag.Path{Subject: "did:web:example.com", Collection: "store"}, "", dag.ErrInvalidPath, "neither the service nor a did:key space"},
		{"not a did", dag.Path{Subject: "nope", Collection: "store"}, "", dag.ErrInvalidPath, "not a DID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.e.Canonical(tc.in)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("Canonical(%s) = %v, want %v containing %q", tc.in, err, tc.err, tc.msg)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("Canonical(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestUnknownCollectionNamesValid checks the receipt of a put to a collection that does not
// exist names the ones that do.
func TestUnknownCollectionNamesValid(t *testing.T) {
	v := newEnv(t, nil)
	p := dag.Path{Subject: v.space, Collection: "pins", Key: "k"}
	res := v.put(p, note("x"))
	if res.Out.Err == nil || res.Out.Err.Name != "UnknownCollection" || !strings.Contains(res.Out.Err.Message, "metrics, notes, store, upload, usage") {
		t.Fatalf("%+v", res.Out)
	}
}

func TestCollectionsConfig(t *testing.T) {
	sch, err := schema.Load([]byte(notesExt))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	spec := func(name string, s collection.Subjects) collection.Spec {
		return collection.Spec{Name: name, Subjects: s}
	}
	for _, tc := range []struct {
		name string
		cols []dag.Collection
		msg  string
	}{
		{"not in the schema", []dag.Collection{{Spec: spec("pins", collection.Space), Machine: dag.RecordMachine{}}}, `"pins" is registered for the space, but the schema's Space type has no such field`},
		{"wrong subject", []dag.Collection{{Spec: spec("store", collection.Service)}}, `"store" is registered for the service`},
		{"twice", []dag.Collection{{Spec: spec("store", collection.Space)}, {Spec: spec("store", collection.Space)}}, "registered twice"},
		{"entry type", []dag.Collection{{Spec: collection.Spec{Name: "store", Subjects: collection.Space, Type: "UploadEntry"}}}, "entries of type StoreEntry in the schema, not UploadEntry"},
		{"key field", []dag.Collection{{Spec: collection.Spec{Name: "store", Subjects: collection.Space, KeyField: "root"}}}, `input type StoreInput has no key field "root"`},
		{"bad name", []dag.Collection{{Spec: spec("9lives", collection.Space)}}, "must start with a letter"},
		{"no subjects", []dag.Collection{{Spec: spec("store", 0)}}, "subjects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dag.Open(context.Background(), dag.Options{KV: mem.New(), Signer: svc, Schema: sch, Collections: tc.cols})
			if !errors.Is(err, dag.ErrConfig) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Open = %v, want ErrConfig containing %q", err, tc.msg)
			}
		})
	}
}

func TestCollectionsListing(t *testing.T) {
	v := newEnv(t, nil)
	var names []string
	for _, c := range v.e.Collections(collection.Space) {
		names = append(names, c.Name+":"+c.Key.String())
		if c.Name == "notes" {
			if _, ok := c.Machine.(dag.RecordMachine); !ok {
				t.Errorf("notes runs %T, want RecordMachine", c.Machine)
			}
		}
	}
	if got, want := strings.Join(names, " "), "metrics:string notes:string store:car-cid upload:cid usage:string"; got != want {
		t.Fatalf("space collections %s, want %s", got, want)
	}
}

// machineView runs fn with the view Tx.KV(prefix) of an Update.
func machineView(t *testing.T, v *env, prefix string, fn func(kt kv.Tx) error) error {
	t.Helper()
	return v.e.Update(context.Background(), func(tx *dag.Tx) error {
		kt, err := tx.KV(prefix)
		if err != nil {
			return err
		}
		return fn(kt)
	})
}

func TestScopedKV(t *testing.T) {
	v := newEnv(t, nil)
	for _, p := range []string{"", "x", "/", "entry/", "task/", "taskqueue", "block/sub/", "meta/"} {
		if err := machineView(t, v, p, func(kv.Tx) error { return nil }); !errors.Is(err, dag.ErrReservedPrefix) {
			t.Errorf("KV(%q) = %v, want ErrReservedPrefix", p, err)
		}
	}
	err := machineView(t, v, "mine/", func(kt kv.Tx) error {
		for _, k := range []string{"mine/a", "mine/b", "mine/c"} {
			if err := kt.Put([]byte(k), []byte("1")); err != nil {
				return err
			}
		}
		return kt.Add([]byte("mine/n"), 2)
	})
	if err != nil {
		t.Fatal(err)
	}
	outside := []struct {
		name string
		fn   func(kt kv.Tx) error
	}{
		{"get", func(kt kv.Tx) error { _, err := kt.Get([]byte("entry/x")); return err }},
		{"put", func(kt kv.Tx) error { return kt.Put([]byte("other/x"), nil) }},
		{"delete", func(kt kv.Tx) error { return kt.Delete([]byte("meta/seq")) }},
		{"add", func(kt kv.Tx) error { return kt.Add([]byte("counter/x"), 1) }},
		{"counter", func(kt kv.Tx) error { _, err := kt.Counter([]byte("x")); return err }},
		{"scan start", func(kt kv.Tx) error {
			return kt.Scan(kv.ScanOptions{Start: []byte("a")}, func(k, v []byte) error { return nil })
		}},
		{"scan end", func(kt kv.Tx) error {
			return kt.Scan(kv.ScanOptions{End: []byte("z")}, func(k, v []byte) error { return nil })
		}},
	}
	for _, tc := range outside {
		if err := machineView(t, v, "mine/", tc.fn); !errors.Is(err, dag.ErrOutsidePrefix) {
			t.Errorf("%s outside the prefix: %v, want ErrOutsidePrefix", tc.name, err)
		}
	}
	// A scan with open bounds sees the prefix's keys only, though the engine has others.
	v.put(v.path("notes/k"), note("x"))
	var seen []string
	err = machineView(t, v, "mine/", func(kt kv.Tx) error {
		return kt.Scan(kv.ScanOptions{}, func(k, _ []byte) error {
			seen = append(seen, string(k))
			return nil
		})
	})
	if err != nil || strings.Join(seen, " ") != "mine/a mine/b mine/c" {
		t.Fatalf("scan: %v, %v", seen, err)
	}
}

// TestArchitecture keeps package dag free of the collections above it: it imports no
// machine and names no built-in collection; their descriptors come from
// Options.Collections.
func TestArchitecture(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`"(store|upload|carwhere|piece|aggregate|task|usage|metrics)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := names.Find(src); m != nil {
			t.Errorf("%s names the collection %s", f, m)
		}
	}
	imports.Check(t, ".", 10, func(path string) bool {
		ours, ok := strings.CutPrefix(path, "github.com/w3dag/w3dag/")
		if !ok {
			return true
		}
		for _, banned := range []string{"machines", "ops", "server", "kv/", "blob", "cmd/"} {
			if strings.HasPrefix(ours, banned) {
				return false
			}
		}
		return true
	})
}

func TestPublicRead(t *testing.T) {
	v := newEnv(t, nil, func(o *dag.Options) {
		for i, c := range o.Collections {
			if c.Name == "metrics" {
				o.Collections[i].PublicRead = true
			}
		}
	})
	svc := v.service.DID()
	for _, tc := range []struct {
		p    dag.Path
		want bool
	}{
		{dag.Path{Subject: svc, Collection: "metrics"}, true},
		{dag.Path{Subject: svc, Collection: "metrics", Key: "puts", Fields: []string{"value"}}, true},
		{dag.Path{Subject: v.space, Collection: "metrics", Key: "puts"}, false},
		{dag.Path{Subject: svc, Collection: "task"}, false},
		{dag.Path{Subject: svc}, false},
		{dag.Path{Subject: svc, Collection: "nosuch"}, false},
	} {
		if got := v.e.PublicRead(tc.p); got != tc.want {
			t.Errorf("PublicRead(%s) = %v, want %v", tc.p, got, tc.want)
		}
	}
	// Without the flag nothing is public.
	plain := newEnv(t, nil)
	if plain.e.PublicRead(dag.Path{Subject: plain.service.DID(), Collection: "metrics"}) {
		t.Error("metrics is public without PublicRead")
	}
	// A space-only collection cannot be public.
	_, err := dag.Open(context.Background(), dag.Options{KV: mem.New(), Signer: v.service, Schema: v.e.Schema(),
		Collections: []dag.Collection{{Spec: collection.Spec{Name: "usage", Subjects: collection.Space, PublicRead: true}}}})
	if !errors.Is(err, dag.ErrConfig) || !strings.Contains(err.Error(), "public reads") {
		t.Fatalf("Open with a public space collection = %v, want ErrConfig", err)
	}
}

// TestDeepValue: a put value nested almost as deep as an invocation may carry is nested
// deeper than a receipt may be encoded once it sits in the state (args, out, ok, value):
// the put fails with an InvalidValue error receipt, not an internal error.
func TestDeepValue(t *testing.T) {
	v := newEnv(t, nil) // for its keys
	sch, err := schema.Load([]byte("type Space struct {\n  deep {String:Any}\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := dag.Open(context.Background(), dag.Options{KV: mem.New(), Signer: v.service, Schema: sch})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	nest := func(d int) datamodel.Node {
		n := basicnode.NewInt(1)
		for range d {
			inner := n
			n = must(qp.BuildList(basicnode.Prototype.Any, 1, func(la datamodel.ListAssembler) { qp.ListEntry(la, qp.Node(inner)) }))
		}
		return n
	}
	var refused int
	for d := 50; d <= 63; d++ {
		p := dag.Path{Subject: v.space, Collection: "deep", Key: fmt.Sprint(d)}
		tok, err := (&ucan.Invocation{Issuer: v.agent.DID(), Subject: v.space, Command: "/dag/put", Args: pathArgs(p, nest(d)), Nonce: ucan.NewNonce()}).Seal(v.agent, ucan.SealOptions{})
		if err != nil {
			continue // too deep for an invocation: never reaches the engine
		}
		res, err := e.Put(context.Background(), tok, p, nest(d))
		if err != nil {
			t.Fatalf("depth %d: internal error %v, want a receipt", d, err)
		}
		if res.Out.Err != nil {
			if res.Out.Err.Name != "InvalidValue" {
				t.Fatalf("depth %d: %s: %s", d, res.Out.Err.Name, res.Out.Err.Message)
			}
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no depth was refused: the test no longer reaches the limit")
	}
}
