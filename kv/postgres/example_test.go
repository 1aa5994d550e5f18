package postgres_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/postgres"
)

// Open a store in its own schema and count page views with a sharded counter.
func ExampleOpen() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, os.Getenv("W3DAG_TEST_POSTGRES"), postgres.Options{Schema: "w3dag"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	err = s.Update(ctx, func(tx kv.Tx) error {
		if err := tx.Put([]byte("page/home"), []byte("<h1>hi</h1>")); err != nil {
			return err
		}
		return tx.Add([]byte("views/home"), 1)
	})
	if err != nil {
		log.Fatal(err)
	}
	err = s.View(ctx, func(tx kv.Tx) error {
		n, err := tx.Counter([]byte("views/home"))
		fmt.Println("views:", n)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
}
