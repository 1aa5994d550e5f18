package pebble_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/pebble"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "w3dag-pebble-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := pebble.Open(filepath.Join(dir, "kv"), pebble.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	err = s.Update(ctx, func(tx kv.Tx) error {
		if err := tx.Put([]byte("greeting"), []byte("hello")); err != nil {
			return err
		}
		return tx.Add([]byte("greetings"), 1)
	})
	if err != nil {
		log.Fatal(err)
	}
	err = s.View(ctx, func(tx kv.Tx) error {
		v, err := tx.Get([]byte("greeting"))
		if err != nil {
			return err
		}
		n, err := tx.Counter([]byte("greetings"))
		if err != nil {
			return err
		}
		fmt.Printf("%s %d\n", v, n)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: hello 1
}
