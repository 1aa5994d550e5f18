package s3_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/s3"
)

// Open a bucket on a self-hosted S3 server, store a blob, and let a client upload another
// one directly. (Compiled, not run: it needs a server.)
func ExampleOpen() {
	ctx := context.Background()
	opts, err := s3.ParseURL("http://ACCESS:SECRET@127.0.0.1:7070/w3dag?region=us-east-1")
	if err != nil {
		log.Fatal(err)
	}
	st, err := s3.Open(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	if err := st.Put(ctx, "greetings/hello", strings.NewReader("hello"), blob.PutOptions{Size: 5}); err != nil {
		log.Fatal(err)
	}

	car := []byte("CAR bytes")
	sum := sha256.Sum256(car)
	req, err := st.PresignPut(ctx, "carpark/c/c.car", int64(len(car)), sum[:], time.Now().Add(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(req.Method, req.Headers["X-Amz-Checksum-Sha256"])
	// ... the client performs req; before the upload counts as done:
	if err := st.CheckUpload(ctx, "carpark/c/c.car", int64(len(car)), sum[:]); err != nil {
		log.Fatal(err)
	}
}
