package carscan_test

import (
	"bytes"
	"fmt"

	"github.com/w3dag/w3dag/carscan"
)

func ExampleScan() {
	data := car([]byte("hello"))
	res, err := carscan.Scan(bytes.NewReader(data))
	if err != nil {
		panic(err)
	}
	fmt.Println(len(res.Roots), len(res.Blocks), res.Blocks[0].Length)

	_, err = carscan.Scan(bytes.NewReader([]byte("# a README\n")))
	fmt.Println(err)
	// Output:
	// 1 1 5
	// not a CAR: the stream ends inside the 35-byte header it announces
}
