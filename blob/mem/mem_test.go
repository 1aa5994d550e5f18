package mem_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/blobtest"
	"github.com/w3dag/w3dag/blob/mem"
)

func TestContract(t *testing.T) {
	blobtest.RunOptions(t, func(t *testing.T) blob.Store { return mem.New() },
		blobtest.Options{LargeSize: 8 << 20, MaxPutHeap: -1})
}

func ExampleNew() {
	ctx := context.Background()
	st := mem.New()
	if err := st.Put(ctx, "greetings/hello", strings.NewReader("hello"), blob.PutOptions{Size: 5}); err != nil {
		fmt.Println(err)
		return
	}
	rc, info, err := st.Get(ctx, "greetings/hello", &blob.Range{Start: 1, End: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	fmt.Println(info.Size, string(b))
	// Output: 5 ello
}
