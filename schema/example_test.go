package schema_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/schema"
)

func ExampleLoad() {
	// An extension adds a "notes" collection to every space.
	s, err := schema.Load([]byte(`
type Space struct {
  notes {String:Note}
}

type Note struct {
  title String
  tags optional [String]
}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	notes, _ := s.Collection(schema.SpaceSubject, "notes")
	fmt.Printf("%s: input %s, state %s %v, generic %v\n", notes.Name, notes.Input, notes.State, notes.Statuses, notes.Generic)

	store, _ := s.Collection(schema.SpaceSubject, "store")
	fmt.Printf("%s: input %s, state %s %v\n", store.Name, store.Input, store.State, store.Statuses)

	// Validate a value a client put.
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagjson.Decode(nb, strings.NewReader(`{"title": "groceries", "tags": ["home", 7]}`)); err != nil {
		fmt.Println(err)
		return
	}
	err = s.Validate(notes.Input, nb.Build())
	var ve *schema.ValidationError
	if errors.As(err, &ve) {
		fmt.Println(ve.Path, ve.Type)
	}
	fmt.Println(err)
	// Output:
	// notes: input Note, state RecordStatus [done removed], generic true
	// store: input StoreInput, state StoreStatus [queued pending done expired failed removed]
	// /tags/1 String
	// at /tags/1 (type String): expected a string, got int
}

func ExampleSchema_Validate() {
	s := schema.MustLoad()
	nb := basicnode.Prototype.Any.NewBuilder()
	state := `{"status": "pending", "url": "https://example.com/blob/x", "headers": {}}`
	if err := dagjson.Decode(nb, strings.NewReader(state)); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Validate("StoreStatus", nb.Build()))
	// Output:
	// at / (type StorePending): missing required field "expires"
}
