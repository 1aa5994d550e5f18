package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/blobtest"
)

// EnvTestS3 names the environment variable that points the tests at an S3 server; see
// the package documentation for its format.
const EnvTestS3 = "W3DAG_TEST_S3"

func TestParseURL(t *testing.T) {
	tests := []struct {
		raw     string
		want    Options
		wantErr bool
	}{
		{raw: "http://AK:S%2Fk@127.0.0.1:7070/bkt?region=eu-west-1", want: Options{Endpoint: "http://127.0.0.1:7070", Region: "eu-west-1", Bucket: "bkt", AccessKey: "AK", SecretKey: "S/k", PathStyle: true}},
		{raw: "https://s3.example/bkt/some/prefix/?virtual=1", want: Options{Endpoint: "https://s3.example", Bucket: "bkt", Prefix: "some/prefix"}},
		{raw: "http://h:1/b", want: Options{Endpoint: "http://h:1", Bucket: "b", PathStyle: true}},
		{raw: "s3://bucket/x", wantErr: true},
		{raw: "http://h:1/", wantErr: true},
		{raw: "http://h:1", wantErr: true},
		{raw: "::", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseURL(tc.raw)
		if tc.wantErr {
			if err == nil {
				t.Errorf("ParseURL(%q) = %+v, want an error", tc.raw, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.raw, got, err, tc.want)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		h                string
		start, end, size int64
		ok               bool
	}{
		{"bytes 0-9/100", 0, 9, 100, true},
		{"bytes 99-99/100", 99, 99, 100, true},
		{"bytes 0-100/100", 0, 0, 0, false},
		{"bytes 5-4/100", 0, 0, 0, false},
		{"bytes */100", 0, 0, 0, false},
		{"bytes 0-9/*", 0, 0, 0, false},
		{"bytes -1-9/100", 0, 0, 0, false},
		{"0-9/100", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	}
	for _, tc := range tests {
		start, end, size, err := parseContentRange(tc.h)
		if !tc.ok {
			if !errors.Is(err, ErrBadContentRange) {
				t.Errorf("parseContentRange(%q) error = %v, want ErrBadContentRange", tc.h, err)
			}
			continue
		}
		if err != nil || start != tc.start || end != tc.end || size != tc.size {
			t.Errorf("parseContentRange(%q) = %d, %d, %d, %v", tc.h, start, end, size, err)
		}
	}
}

// FuzzParseContentRange: the header comes from the server; whatever it says, parsing
// must not panic and must only accept a range inside the blob.
func FuzzParseContentRange(f *testing.F) {
	for _, h := range []string{"bytes 0-9/100", "bytes */100", "bytes 1-0/1", "bytes 9223372036854775807-9223372036854775807/9223372036854775807"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		start, end, size, err := parseContentRange(h)
		if err == nil && !(0 <= start && start <= end && end < size) {
			t.Fatalf("parseContentRange(%q) accepted %d-%d/%d", h, start, end, size)
		}
	})
}

func TestOpenOptions(t *testing.T) {
	ctx := context.Background()
	for _, opts := range []Options{
		{},
		{Bucket: "b", Prefix: "../x"},
		{Bucket: "b", AccessKey: "only-the-key"},
	} {
		if st, err := Open(ctx, opts); err == nil {
			st.Close()
			t.Errorf("Open(%+v) succeeded", opts)
		}
	}
}

// testOptions returns the options of the test server, creating its bucket if missing, or
// skips the test when W3DAG_TEST_S3 is unset.
func testOptions(t testing.TB) Options {
	raw := os.Getenv(EnvTestS3)
	if raw == "" {
		t.Skipf("%s is not set; see the blob/s3 package documentation", EnvTestS3)
	}
	opts, err := ParseURL(raw)
	if err != nil {
		t.Fatalf("%s: %v", EnvTestS3, err)
	}
	region := opts.Region
	if region == "" {
		region = DefaultRegion
	}
	client := awss3.New(awss3.Options{
		Region:       region,
		BaseEndpoint: aws.String(opts.Endpoint),
		UsePathStyle: opts.PathStyle,
		Credentials:  credentials.NewStaticCredentialsProvider(opts.AccessKey, opts.SecretKey, ""),
	})
	ctx := context.Background()
	if _, err := client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(opts.Bucket)}); err != nil {
		if _, err := client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(opts.Bucket)}); err != nil {
			t.Fatalf("creating bucket %q: %v", opts.Bucket, err)
		}
	}
	return opts
}

// openTest opens a Store under a fresh random prefix and deletes everything under it when
// the test ends.
func openTest(t testing.TB) *Store {
	opts := testOptions(t)
	var r [6]byte
	rand.Read(r[:])
	fresh := "w3dagtest-" + hex.EncodeToString(r[:])
	if opts.Prefix != "" {
		fresh = opts.Prefix + "/" + fresh
	}
	opts.Prefix = fresh
	st, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		p := awss3.NewListObjectsV2Paginator(st.client, &awss3.ListObjectsV2Input{Bucket: aws.String(st.bucket), Prefix: aws.String(st.prefix)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Errorf("cleaning up: %v", err)
				break
			}
			for _, obj := range page.Contents {
				st.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(st.bucket), Key: obj.Key})
			}
		}
		st.Close()
	})
	return st
}

func TestContract(t *testing.T) {
	testOptions(t)
	// Part buffers (PartSize × (Concurrency+1) = 20 MiB) plus the SDK's own garbage (about
	// 25 MiB measured in all): well below the 64 MiB streamed.
	blobtest.RunOptions(t, func(t *testing.T) blob.Store { return openTest(t) },
		blobtest.Options{MaxPutHeap: 40 << 20})
}

func sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func TestCheckUpload(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("checked "), 1000)

	// Stored by Put (no full-object checksum kept): CheckUpload reads the bytes back.
	if err := st.Put(ctx, "put/k", bytes.NewReader(data), blob.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	// Stored by a presigned PUT carrying x-amz-checksum-sha256: one HEAD suffices.
	req, err := st.PresignPut(ctx, "pre/k", int64(len(data)), sum(data), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	hreq, err := req.NewHTTPRequest(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("presigned PUT: %s", resp.Status)
	}
	for _, key := range []string{"put/k", "pre/k"} {
		if err := st.CheckUpload(ctx, key, int64(len(data)), sum(data)); err != nil {
			t.Errorf("CheckUpload(%q) of the right bytes: %v", key, err)
		}
		if err := st.CheckUpload(ctx, key, int64(len(data)), sum([]byte("other"))); !errors.Is(err, blob.ErrDigestMismatch) {
			t.Errorf("CheckUpload(%q) with another digest = %v, want ErrDigestMismatch", key, err)
		}
		if err := st.CheckUpload(ctx, key, int64(len(data))+1, sum(data)); !errors.Is(err, blob.ErrSizeMismatch) {
			t.Errorf("CheckUpload(%q) with another size = %v, want ErrSizeMismatch", key, err)
		}
	}
	if err := st.CheckUpload(ctx, "missing", 1, sum(data)); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("CheckUpload of a missing key = %v, want ErrNotFound", err)
	}
	if err := st.CheckUpload(ctx, "../k", 1, sum(data)); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("CheckUpload of an invalid key = %v, want ErrInvalidKey", err)
	}
}

func TestPresignLimits(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	for _, expires := range []time.Time{time.Now().Add(-time.Minute), time.Now().Add(MaxPresignTTL + time.Hour)} {
		if _, err := st.PresignPut(ctx, "k", 1, sum([]byte("x")), expires); err == nil {
			t.Errorf("PresignPut expiring at %v succeeded", expires)
		}
	}
	req, err := st.PresignPut(ctx, "k", 1, sum([]byte("x")), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if req.Headers["Content-Length"] != "1" || req.Headers["X-Amz-Checksum-Sha256"] == "" || !strings.Contains(req.URL, "X-Amz-Signature=") {
		t.Fatalf("presigned request lacks the pinned headers: %+v", req)
	}
}

func TestOpenMissingBucket(t *testing.T) {
	opts := testOptions(t)
	opts.Bucket = "w3dag-no-such-bucket-" + strings.Repeat("0", 8)
	if st, err := Open(context.Background(), opts); err == nil {
		st.Close()
		t.Fatalf("Open of a missing bucket succeeded")
	}
}
