package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/w3dag/w3dag/blob"
)

const (
	// PartSize is the size of each part of a multipart upload, and of the buffers Put
	// reads into.
	PartSize = manager.MinUploadPartSize
	// Concurrency is how many parts of one Put are uploaded at once.
	Concurrency = 3
	// DefaultRegion is the region used when Options.Region is empty.
	DefaultRegion = "us-east-1"
)

// Options configure a Store.
type Options struct {
	// Endpoint is the base URL of the S3 server, e.g. "http://127.0.0.1:7070". Empty: AWS's
	// endpoint for Region.
	Endpoint string
	// Region is the bucket's region. Empty: DefaultRegion.
	Region string
	// Bucket is the bucket holding the blobs; required, and it must exist.
	Bucket string
	// AccessKey and SecretKey are static credentials. Both empty: the AWS SDK's default
	// chain (environment, shared config files, instance roles).
	AccessKey string
	SecretKey string
	// PathStyle addresses the bucket as a path (endpoint/bucket/key), as most self-hosted
	// servers need. False: virtual-hosted style (bucket.endpoint/key).
	PathStyle bool
	// Prefix, when not empty, must be a valid blob key; objects are then stored at
	// Prefix + "/" + key. Empty: objects are stored at their keys.
	Prefix string
	// Logger receives warnings that do not fail an operation. Nil: they are discarded.
	Logger *slog.Logger
}

// Store is a blob.Store on an S3 bucket, safe for concurrent use.
type Store struct {
	client    *awss3.Client
	transport *http.Transport
	bucket    string
	prefix    string // "" or Options.Prefix + "/"
	// manager.Uploader is deprecated in favour of feature/s3/transfermanager, which is
	// still v0.x (needing the whole AWS SDK upgraded) and whose UploadObject buffers the
	// first part with io.ReadAll up to its MultipartUploadThreshold, outside the
	// PartSize × (Concurrency+1) bound documented in the package comment.
	//lint:ignore SA1019 manager.Uploader is kept on purpose: see the comment above
	uploader *manager.Uploader
	log      *slog.Logger
}

var (
	_ blob.Store     = (*Store)(nil)
	_ blob.Presigner = (*Store)(nil)
)

// Open connects to the bucket and checks that it is reachable. Close releases the
// connections.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Bucket == "" {
		return nil, errors.New("s3: Options.Bucket is empty")
	}
	if opts.Prefix != "" && !blob.ValidKey(opts.Prefix) {
		return nil, fmt.Errorf("s3: Options.Prefix %q: %w", opts.Prefix, blob.ErrInvalidKey)
	}
	if (opts.AccessKey == "") != (opts.SecretKey == "") {
		return nil, errors.New("s3: set both Options.AccessKey and Options.SecretKey, or neither")
	}
	region := opts.Region
	if region == "" {
		region = DefaultRegion
	}
	loaders := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if opts.AccessKey != "" {
		loaders = append(loaders, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(opts.AccessKey, opts.SecretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loaders...)
	if err != nil {
		return nil, fmt.Errorf("s3: loading AWS configuration: %w", err)
	}
	// Own the transport (with whatever the configuration set on it, such as a CA bundle) so
	// that Close can release its connections.
	var transport *http.Transport
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		transport = bc.GetTransport()
	} else {
		transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	cfg.HTTPClient = &http.Client{
		Transport: transport,
		// Like the SDK's client: S3 redirects are answers, not to be followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		o.Logger = sdkLogger{log}
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = opts.PathStyle
	})
	s := &Store{
		client:    client,
		transport: transport,
		bucket:    opts.Bucket,
		log:       log,
		//lint:ignore SA1019 manager.Uploader is kept on purpose: see Store.uploader
		uploader: manager.NewUploader(client, func(u *manager.Uploader) {
			u.PartSize = PartSize
			u.Concurrency = Concurrency
		}),
	}
	if opts.Prefix != "" {
		s.prefix = opts.Prefix + "/"
	}
	if _, err := client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(opts.Bucket)}); err != nil {
		transport.CloseIdleConnections()
		return nil, fmt.Errorf("s3: bucket %q: %w", opts.Bucket, err)
	}
	return s, nil
}

// Close closes idle connections. The Store must not be used afterwards.
func (s *Store) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

func (s *Store) object(key string) *string {
	return aws.String(s.prefix + key)
}

func checkKey(op, key string) error {
	if !blob.ValidKey(key) {
		return fmt.Errorf("s3: %s %q: %w", op, key, blob.ErrInvalidKey)
	}
	return nil
}

// errorCode returns the S3 error code of err, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// wrap turns S3 errors into blob errors where one applies.
func wrap(op, key string, err error) error {
	switch errorCode(err) {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("s3: %s %q: %w", op, key, blob.ErrNotFound)
	case "InvalidRange":
		return fmt.Errorf("s3: %s %q: %w: %w", op, key, blob.ErrInvalidRange, err)
	}
	return fmt.Errorf("s3: %s %q: %w", op, key, err)
}

// Put uploads r, verified as it is read; see the package documentation.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts blob.PutOptions) error {
	if err := checkKey("put", key); err != nil {
		return err
	}
	vr, err := blob.Verify(ctx, r, opts)
	if err != nil {
		return fmt.Errorf("s3: put %q: %w", key, err)
	}
	//lint:ignore SA1019 manager.Uploader is kept on purpose: see Store.uploader
	_, err = s.uploader.Upload(ctx, &awss3.PutObjectInput{Bucket: aws.String(s.bucket), Key: s.object(key), Body: vr})
	if err != nil {
		var mu manager.MultiUploadFailure
		if errors.As(err, &mu) {
			s.log.Debug("s3: multipart upload failed and was aborted", "key", key, "upload", mu.UploadID())
		}
		return fmt.Errorf("s3: put %q: %w", key, err)
	}
	return nil
}

// Get requests the object, or the range rng of it.
func (s *Store) Get(ctx context.Context, key string, rng *blob.Range) (io.ReadCloser, blob.Info, error) {
	if err := checkKey("get", key); err != nil {
		return nil, blob.Info{}, err
	}
	in := &awss3.GetObjectInput{Bucket: aws.String(s.bucket), Key: s.object(key)}
	if rng != nil {
		// S3 ignores a malformed range and sends the whole object: refuse it here.
		if rng.Start < 0 || (rng.End >= 0 && rng.End < rng.Start) {
			return nil, blob.Info{}, fmt.Errorf("s3: get %q: %w: bytes %d-%d", key, blob.ErrInvalidRange, rng.Start, rng.End)
		}
		h := "bytes=" + strconv.FormatInt(rng.Start, 10) + "-"
		if rng.End >= 0 {
			h += strconv.FormatInt(rng.End, 10)
		}
		in.Range = aws.String(h)
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, blob.Info{}, wrap("get", key, err)
	}
	info := blob.Info{Key: key, Size: aws.ToInt64(out.ContentLength), Modified: aws.ToTime(out.LastModified)}
	if rng != nil {
		start, end, size, err := parseContentRange(aws.ToString(out.ContentRange))
		switch {
		case err != nil:
		case rng.End >= size: // the server shortened the range
			err = fmt.Errorf("%w: bytes %d-%d of a %d-byte blob", blob.ErrInvalidRange, rng.Start, rng.End, size)
		case start != rng.Start || end != rng.End && !(rng.End < 0 && end == size-1):
			err = fmt.Errorf("%w: %q for bytes %d-%d", ErrBadContentRange, aws.ToString(out.ContentRange), rng.Start, rng.End)
		}
		if err != nil {
			out.Body.Close()
			return nil, blob.Info{}, fmt.Errorf("s3: get %q: %w", key, err)
		}
		info.Size = size
	}
	return out.Body, info, nil
}

// parseContentRange parses "bytes START-END/SIZE".
func parseContentRange(h string) (start, end, size int64, err error) {
	bad := func() (int64, int64, int64, error) {
		return 0, 0, 0, fmt.Errorf("%w: %q", ErrBadContentRange, h)
	}
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return bad()
	}
	span, total, ok := strings.Cut(rest, "/")
	if !ok {
		return bad()
	}
	first, last, ok := strings.Cut(span, "-")
	if !ok {
		return bad()
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	end, err2 := strconv.ParseInt(last, 10, 64)
	size, err3 := strconv.ParseInt(total, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || start < 0 || end < start || size <= end {
		return bad()
	}
	return start, end, size, nil
}

// Stat sends a HEAD for the object.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := checkKey("stat", key); err != nil {
		return blob.Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: s.object(key)})
	if err != nil {
		return blob.Info{}, wrap("stat", key, err)
	}
	return blob.Info{Key: key, Size: aws.ToInt64(out.ContentLength), Modified: aws.ToTime(out.LastModified)}, nil
}

// Delete deletes the object.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey("delete", key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: s.object(key)})
	if err != nil && errorCode(err) != "NoSuchKey" {
		return fmt.Errorf("s3: delete %q: %w", key, err)
	}
	return nil
}

// List pages through the objects under prefix; objects whose names are not valid keys
// are skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	p := awss3.NewListObjectsV2Paginator(s.client, &awss3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("s3: list %q: %w", prefix, err)
		}
		for _, obj := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(obj.Key), s.prefix)
			if !ok || !blob.ValidKey(key) {
				continue
			}
			err := fn(blob.Info{Key: key, Size: aws.ToInt64(obj.Size), Modified: aws.ToTime(obj.LastModified)})
			if errors.Is(err, blob.ErrStop) {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// sdkLogger passes the SDK's log lines to slog: warnings as warnings, the rest as debug.
type sdkLogger struct{ log *slog.Logger }

func (l sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	l.log.Log(context.Background(), level, "s3: aws sdk: "+fmt.Sprintf(format, v...))
}
