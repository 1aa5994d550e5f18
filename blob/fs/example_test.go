package fs_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/fs"
)

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "blobs")
	defer os.RemoveAll(dir)
	st, err := fs.Open(dir, fs.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Put(ctx, "carpark/c/c.car", strings.NewReader("bytes"), blob.PutOptions{Size: 5}); err != nil {
		fmt.Println(err)
		return
	}
	st.List(ctx, "carpark/", func(info blob.Info) error {
		fmt.Println(info.Key, info.Size)
		return nil
	})
	// Output: carpark/c/c.car 5
}

// The server side of a presigned upload: check the URL's signature, then stream the body
// into Put under the size and digest it pinned.
func ExampleStore_VerifyPresigned() {
	dir, _ := os.MkdirTemp("", "blobs")
	defer os.RemoveAll(dir)
	st, _ := fs.Open(dir, fs.Options{
		Secret: []byte("0123456789abcdef0123456789abcdef"),
		URL:    func(key string) string { return "https://w3dag.example/blob/" + key },
	})
	defer st.Close()
	ctx := context.Background()
	body := "hello"
	sum := []byte{0x2c, 0xf2, 0x4d, 0xba, 0x5f, 0xb0, 0xa3, 0x0e, 0x26, 0xe8, 0x3b, 0x2a, 0xc5, 0xb9, 0xe2, 0x9e, 0x1b, 0x16, 0x1e, 0x5c, 0x1f, 0xa7, 0x42, 0x5e, 0x73, 0x04, 0x33, 0x62, 0x93, 0x8b, 0x98, 0x24}
	req, _ := st.PresignPut(ctx, "up/hello", int64(len(body)), sum, time.Now().Add(time.Hour))

	// ... the client PUTs body to req.URL; the server receives the request:
	u, _ := url.Parse(req.URL)
	opts, err := st.VerifyPresigned("up/hello", u.Query(), int64(len(body)), time.Now())
	if err != nil {
		fmt.Println("403:", err)
		return
	}
	if err := st.Put(ctx, "up/hello", strings.NewReader(body), opts); err != nil {
		fmt.Println("400:", err)
		return
	}
	info, _ := st.Stat(ctx, "up/hello")
	fmt.Println(info.Size)
	// Output: 5
}
