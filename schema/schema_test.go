package schema

import (
	"errors"
	"strings"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

func decodeJSON(t testing.TB, s string) datamodel.Node {
	t.Helper()
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagjson.Decode(nb, strings.NewReader(s)); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return nb.Build()
}

func TestLoadSystem(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	c, ok := s.Collection(SpaceSubject, "store")
	if !ok || c.Input != "StoreInput" || c.State != "StoreStatus" || c.KeyField != "link" || c.Generic || c.SystemWritten {
		t.Fatalf("store collection: %+v, %v", c, ok)
	}
	if _, ok := s.Collection(SpaceSubject, "carwhere"); ok {
		t.Fatal("carwhere is a service collection, found under space")
	}
	err = s.Validate("StoreInput", decodeJSON(t, `{"link":{"/":"bafkqaaa"},"size":"1"}`))
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || ve.Path != "/size" || ve.Type != "Int" {
		t.Fatalf("got %v", err)
	}
}
