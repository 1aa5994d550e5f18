package message_test

import (
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/w3dag/w3dag/message"
)

func ExampleEncode() {
	// A token block (here a stand-in: the DAG-CBOR byte string "tok").
	inv := message.NewBlock(message.CodecDAGCBOR, []byte{0x43, 't', 'o', 'k'})
	data, err := message.Encode(&message.Message{Invocations: []cid.Cid{inv.CID}, Blocks: []message.Block{inv}})
	if err != nil {
		panic(err)
	}
	m, err := message.Decode(data, message.Limits{})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(m.Invocations), m.Invocations[0] == inv.CID)
	// Output: 1 true
}
