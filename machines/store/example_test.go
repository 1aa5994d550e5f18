package store_test

import (
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/machines/store"
)

// ExampleDigest shows which CIDs the store accepts: sha2-256 CAR CIDs, whose digest is
// what uploads are verified against.
func ExampleDigest() {
	c, _ := cid.Decode("bagbaierav3zmpfwj7gtx2ayeog4ipmusmfwfgpcyghk7hhbcndbi7hbfd6oq")
	d, err := store.Digest(c)
	fmt.Printf("%x %v\n", d[:4], err)
	_, err = store.Digest(cid.NewCidV1(cid.Raw, c.Hash()))
	fmt.Println(err)
	// Output:
	// aef2c796 <nil>
	// store: not a sha2-256 CAR CID: bafkreifo6ldznspzu56qgbdrxcd3fetbnrjtywbr2xzzyitiykhzyji7tu has codec 0x55, want CAR 0x202
}
