package dag_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan/did"
)

// TestWrongService: the first Open records its service DID in the store; another Open
// with the same key (a restart, a second node) succeeds, one with another key fails with
// ErrWrongService naming both DIDs, and leaves the recorded DID as it was.
func TestWrongService(t *testing.T) {
	store := mem.New()
	v := newEnv(t, store)
	sch := must(schema.Load([]byte(notesExt)))
	open := func(s did.Signer) (*dag.Engine, error) {
		e, err := dag.Open(context.Background(), dag.Options{KV: store, Signer: s, Schema: sch, Collections: testCollections()})
		if err == nil {
			t.Cleanup(func() { e.Close() })
		}
		return e, err
	}
	if _, err := open(v.service); err != nil {
		t.Fatalf("second open with the same key: %v", err)
	}
	other, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	_, err = open(other)
	if !errors.Is(err, dag.ErrWrongService) {
		t.Fatalf("open with another key: %v, want ErrWrongService", err)
	}
	for _, d := range []string{v.service.DID(), other.DID()} {
		if !strings.Contains(err.Error(), d) {
			t.Errorf("error %q does not name %s", err, d)
		}
	}
	if _, err := open(v.service); err != nil {
		t.Fatalf("open with the first key after a refused one: %v", err)
	}
}

// TestPostgresWrongService: the same guard across processes sharing PostgreSQL.
func TestPostgresWrongService(t *testing.T) {
	v, _ := pgEngines(t, 1)
	other, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	_, err = dag.Open(context.Background(), dag.Options{KV: v.kv, Signer: other, Schema: must(schema.Load([]byte(notesExt))), Collections: testCollections()})
	if !errors.Is(err, dag.ErrWrongService) {
		t.Fatalf("open with another key: %v, want ErrWrongService", err)
	}
}
