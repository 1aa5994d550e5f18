package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/w3dag/w3dag/blob"
)

// MaxPresignTTL is the longest validity S3 allows a presigned URL.
const MaxPresignTTL = 7 * 24 * time.Hour

// PresignPut returns a SigV4-presigned PUT of the object at key. Content-Length and
// x-amz-checksum-sha256 (the base64 of sum) are signed headers: the client must send both
// exactly as in Request.Headers, and the server rejects any other length or bytes. S3
// counts the validity in whole seconds from now: expires is rounded to the nearest second
// (at least one) and must be at most MaxPresignTTL away.
func (s *Store) PresignPut(ctx context.Context, key string, size int64, sum []byte, expires time.Time) (blob.Request, error) {
	if err := checkKey("presign", key); err != nil {
		return blob.Request{}, err
	}
	if size < 0 || len(sum) != sha256.Size {
		return blob.Request{}, fmt.Errorf("s3: presign %q: %w: size %d and a %d-byte sha256 (want size >= 0 and 32 bytes)", key, blob.ErrInvalidOptions, size, len(sum))
	}
	now := time.Now()
	d := expires.Sub(now)
	ttl := max(d.Round(time.Second), time.Second) // S3 counts whole seconds
	if d <= 0 || ttl > MaxPresignTTL {
		return blob.Request{}, fmt.Errorf("s3: presign %q: expiry %s is not between 1s and %s from now", key, expires.Format(time.RFC3339), MaxPresignTTL)
	}
	req, err := awss3.NewPresignClient(s.client).PresignPutObject(ctx, &awss3.PutObjectInput{
		Bucket:         aws.String(s.bucket),
		Key:            s.object(key),
		ContentLength:  aws.Int64(size),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum)),
	}, awss3.WithPresignExpires(ttl))
	if err != nil {
		return blob.Request{}, fmt.Errorf("s3: presign %q: %w", key, err)
	}
	headers := make(map[string]string, len(req.SignedHeader))
	for k, v := range req.SignedHeader {
		if http.CanonicalHeaderKey(k) != "Host" && len(v) > 0 {
			headers[k] = v[0]
		}
	}
	// An empty body's Content-Length is not signed; send it anyway.
	headers["Content-Length"] = fmt.Sprint(size)
	return blob.Request{Method: req.Method, URL: req.URL, Headers: headers, Expires: now.Add(ttl)}, nil
}

// CheckUpload checks that the object at key is size bytes long with SHA-256 sum, for
// example after a client performed a presigned PUT. It compares the size and the
// full-object SHA-256 the server stored (one HEAD); if the server keeps no such checksum,
// it reads the object and hashes it. Errors wrap blob.ErrNotFound, blob.ErrSizeMismatch or
// blob.ErrDigestMismatch; a mismatching object is left in place for the caller to decide.
func (s *Store) CheckUpload(ctx context.Context, key string, size int64, sum []byte) error {
	if err := checkKey("check", key); err != nil {
		return err
	}
	if len(sum) != sha256.Size {
		return fmt.Errorf("s3: check %q: %w: a %d-byte sha256", key, blob.ErrInvalidOptions, len(sum))
	}
	head, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{
		Bucket:       aws.String(s.bucket),
		Key:          s.object(key),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return wrap("check", key, err)
	}
	if n := aws.ToInt64(head.ContentLength); n != size {
		return fmt.Errorf("s3: check %q: %w: %d bytes, want %d", key, blob.ErrSizeMismatch, n, size)
	}
	stored := aws.ToString(head.ChecksumSHA256)
	if stored != "" && !strings.Contains(stored, "-") && head.ChecksumType != types.ChecksumTypeComposite {
		if got, err := base64.StdEncoding.DecodeString(stored); err == nil {
			if !bytes.Equal(got, sum) {
				return fmt.Errorf("s3: check %q: %w: stored checksum %x, want %x", key, blob.ErrDigestMismatch, got, sum)
			}
			return nil
		}
	}
	rc, _, err := s.Get(ctx, key, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	vr, err := blob.Verify(ctx, rc, blob.PutOptions{Size: size, SHA256: sum})
	if err != nil {
		return fmt.Errorf("s3: check %q: %w", key, err)
	}
	if _, err := io.Copy(io.Discard, vr); err != nil {
		return fmt.Errorf("s3: check %q: %w", key, err)
	}
	return nil
}

// ParseURL reads Options from a URL of the form
//
//	http[s]://ACCESS_KEY:SECRET_KEY@HOST[:PORT]/BUCKET[/PREFIX]?region=REGION&virtual=1
//
// Endpoint is scheme and host; the credentials are optional (both or neither, URL-escaped);
// region defaults to DefaultRegion; addressing is path-style unless virtual=1.
func ParseURL(raw string) (Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Options{}, fmt.Errorf("s3: parsing URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Options{}, errors.New("s3: URL must be http(s)://[ACCESS:SECRET@]HOST/BUCKET[/PREFIX]")
	}
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if bucket == "" {
		return Options{}, errors.New("s3: URL names no bucket")
	}
	opts := Options{
		Endpoint:  u.Scheme + "://" + u.Host,
		Region:    u.Query().Get("region"),
		Bucket:    bucket,
		Prefix:    strings.TrimSuffix(prefix, "/"),
		PathStyle: u.Query().Get("virtual") != "1",
	}
	if u.User != nil {
		opts.AccessKey = u.User.Username()
		opts.SecretKey, _ = u.User.Password()
	}
	return opts, nil
}
