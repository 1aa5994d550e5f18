package mem_test

import (
	"context"
	"fmt"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
)

func ExampleNew() {
	ctx := context.Background()
	s := mem.New()
	defer s.Close()

	_ = s.Update(ctx, func(tx kv.Tx) error {
		if err := tx.Put([]byte("heads/a"), []byte("1")); err != nil {
			return err
		}
		if err := tx.Put([]byte("heads/b"), []byte("2")); err != nil {
			return err
		}
		return tx.Add([]byte("puts"), 2)
	})
	_ = s.View(ctx, func(tx kv.Tx) error {
		prefix := []byte("heads/")
		_ = tx.Scan(kv.ScanOptions{Start: prefix, End: kv.PrefixEnd(prefix)}, func(k, v []byte) error {
			fmt.Printf("%s=%s\n", k, v)
			return nil
		})
		n, _ := tx.Counter([]byte("puts"))
		fmt.Println("puts:", n)
		return nil
	})
	// Output:
	// heads/a=1
	// heads/b=2
	// puts: 2
}
