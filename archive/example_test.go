package archive_test

import (
	"context"
	"fmt"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/message"
)

func ExampleArchive_Put() {
	ctx := context.Background()
	a := archive.New(mem.New(), archive.Options{})
	body := []byte("the CAR bytes of an agent message")
	msg, err := a.Put(ctx, message.CodecCAR, body)
	if err != nil {
		panic(err)
	}
	fmt.Println(archive.WorkflowKey(msg) == "workflow/"+msg.String()+"/"+msg.String())
	// Output: true
}
