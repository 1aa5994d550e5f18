package fs

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/w3dag/w3dag/blob"
)

// MinSecretLength is the shortest Options.Secret accepted.
const MinSecretLength = 32

// Query parameters of a presigned upload URL.
const (
	// ParamSize is the exact size in bytes, in decimal.
	ParamSize = "size"
	// ParamSHA256 is the SHA-256 of the bytes, in lower-case hex.
	ParamSHA256 = "sha256"
	// ParamExpires is the expiry time, in Unix seconds.
	ParamExpires = "expires"
	// ParamSignature is the HMAC-SHA256 over the fields above, in hex.
	ParamSignature = "sig"
)

// presignDomain separates these signatures from any other use of the secret.
const presignDomain = "w3dag blob PUT v1"

// mac returns the signature of a PUT of size bytes hashing to sum at key, valid until
// expires (Unix seconds). Keys contain no newline, so the fields cannot run together.
func (s *Store) mac(key string, size int64, sum []byte, expires int64) []byte {
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "%s\n%s\n%s\n%d\n%x\n%d", presignDomain, http.MethodPut, key, size, sum, expires)
	return m.Sum(nil)
}

// PresignPut returns a PUT to Options.URL(key) whose query pins size, sha256 and expiry
// (truncated to whole seconds) under an HMAC. It fails with blob.ErrNoPresign when the
// Store has no Secret.
func (s *Store) PresignPut(ctx context.Context, key string, size int64, sum []byte, expires time.Time) (blob.Request, error) {
	if len(s.secret) == 0 {
		return blob.Request{}, fmt.Errorf("fs: presign %q: %w (no Options.Secret)", key, blob.ErrNoPresign)
	}
	if err := checkKey("presign", key); err != nil {
		return blob.Request{}, err
	}
	if size < 0 || len(sum) != sha256.Size {
		return blob.Request{}, fmt.Errorf("fs: presign %q: %w: size %d and a %d-byte sha256 (want size >= 0 and 32 bytes)", key, blob.ErrInvalidOptions, size, len(sum))
	}
	u, err := url.Parse(s.url(key))
	if err != nil {
		return blob.Request{}, fmt.Errorf("fs: presign %q: Options.URL gave a bad URL: %w", key, err)
	}
	exp := expires.Unix()
	q := u.Query()
	q.Set(ParamSize, strconv.FormatInt(size, 10))
	q.Set(ParamSHA256, hex.EncodeToString(sum))
	q.Set(ParamExpires, strconv.FormatInt(exp, 10))
	q.Set(ParamSignature, hex.EncodeToString(s.mac(key, size, sum, exp)))
	u.RawQuery = q.Encode()
	return blob.Request{
		Method:  http.MethodPut,
		URL:     u.String(),
		Headers: map[string]string{"Content-Length": strconv.FormatInt(size, 10)},
		Expires: time.Unix(exp, 0),
	}, nil
}

// VerifyPresigned checks the query of a presigned PUT of key, received at now with the
// given Content-Length (-1 if unknown), and returns the PutOptions to stream the body into
// Put with, so that Put rejects any other size or digest. Errors wrap blob.ErrNoPresign
// (no Secret), blob.ErrInvalidKey, blob.ErrPresignInvalid (parameters missing or
// malformed, or signature wrong), blob.ErrPresignExpired, or blob.ErrSizeMismatch
// (Content-Length differs from the signed size). The signature is compared in constant
// time and checked before the expiry.
func (s *Store) VerifyPresigned(key string, query url.Values, contentLength int64, now time.Time) (blob.PutOptions, error) {
	if len(s.secret) == 0 {
		return blob.PutOptions{}, fmt.Errorf("fs: verify presigned %q: %w (no Options.Secret)", key, blob.ErrNoPresign)
	}
	if err := checkKey("verify presigned", key); err != nil {
		return blob.PutOptions{}, err
	}
	fail := func(format string, args ...any) (blob.PutOptions, error) {
		return blob.PutOptions{}, fmt.Errorf("fs: verify presigned %q: %w: %s", key, blob.ErrPresignInvalid, fmt.Sprintf(format, args...))
	}
	param := func(name string) (string, bool) {
		if v := query[name]; len(v) == 1 {
			return v[0], true
		}
		return "", false // missing or repeated
	}
	rawSize, ok1 := param(ParamSize)
	rawSum, ok2 := param(ParamSHA256)
	rawExp, ok3 := param(ParamExpires)
	rawSig, ok4 := param(ParamSignature)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return fail("want exactly one each of the query parameters %s, %s, %s and %s", ParamSize, ParamSHA256, ParamExpires, ParamSignature)
	}
	size, err := strconv.ParseInt(rawSize, 10, 64)
	if err != nil || size < 0 {
		return fail("%s %q is not a size", ParamSize, rawSize)
	}
	sum, err := hex.DecodeString(rawSum)
	if err != nil || len(sum) != sha256.Size {
		return fail("%s %q is not a hex SHA-256", ParamSHA256, rawSum)
	}
	exp, err := strconv.ParseInt(rawExp, 10, 64)
	if err != nil {
		return fail("%s %q is not a Unix time", ParamExpires, rawExp)
	}
	sig, err := hex.DecodeString(rawSig)
	if err != nil || len(sig) != sha256.Size {
		return fail("%s is not a hex HMAC-SHA256", ParamSignature)
	}
	if !hmac.Equal(sig, s.mac(key, size, sum, exp)) {
		return fail("signature does not match")
	}
	if !now.Before(time.Unix(exp, 0)) {
		return blob.PutOptions{}, fmt.Errorf("fs: verify presigned %q: %w at %s", key, blob.ErrPresignExpired, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	if contentLength >= 0 && contentLength != size {
		return blob.PutOptions{}, fmt.Errorf("fs: verify presigned %q: %w: Content-Length %d, signed size %d", key, blob.ErrSizeMismatch, contentLength, size)
	}
	return blob.PutOptions{Size: size, SHA256: sum}, nil
}
