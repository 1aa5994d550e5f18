package container

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"slices"

	"github.com/w3dag/w3dag/cbor"
)

// The header bytes of the six container encodings.
const (
	HeaderRaw           = 0x40 // '@': DAG-CBOR bytes
	HeaderBase64        = 0x42 // 'B': base64 (standard alphabet, padded)
	HeaderBase64URL     = 0x43 // 'C': base64url (no padding)
	HeaderRawGzip       = 0x4D // 'M': gzip
	HeaderBase64Gzip    = 0x4F // 'O': base64 (standard, padded) of gzip
	HeaderBase64URLGzip = 0x50 // 'P': base64url (no padding) of gzip
)

// Limits applied by Decode to untrusted input (and by Encode, so that what
// it writes can be read back).
const (
	// MaxDecodedSize is the largest DAG-CBOR payload, in bytes, after
	// base64 decoding and decompression: 4 MiB of tokens plus headroom for
	// the CBOR framing.
	MaxDecodedSize = 4<<20 + 64<<10

	// MaxTokens is the most tokens one container may hold.
	MaxTokens = 4096
)

// key is the only key of the container's DAG-CBOR map.
const key = "ctn-v1"

// Headers lists the six header bytes, in ascending order.
var Headers = []byte{HeaderRaw, HeaderBase64, HeaderBase64URL, HeaderRawGzip, HeaderBase64Gzip, HeaderBase64URLGzip}

type layout struct {
	b64  *base64.Encoding // nil: raw bytes
	gzip bool
}

func layoutOf(header byte) (layout, bool) {
	switch header {
	case HeaderRaw:
		return layout{}, true
	case HeaderBase64:
		return layout{b64: base64.StdEncoding.Strict()}, true
	case HeaderBase64URL:
		return layout{b64: base64.RawURLEncoding.Strict()}, true
	case HeaderRawGzip:
		return layout{gzip: true}, true
	case HeaderBase64Gzip:
		return layout{b64: base64.StdEncoding.Strict(), gzip: true}, true
	case HeaderBase64URLGzip:
		return layout{b64: base64.RawURLEncoding.Strict(), gzip: true}, true
	}
	return layout{}, false
}

// Encode writes tokens as a container with the given header. The tokens are
// sorted bytewise and duplicates dropped; the input slice is not modified.
// Empty tokens are rejected.
func Encode(header byte, tokens [][]byte) ([]byte, error) {
	l, ok := layoutOf(header)
	if !ok {
		return nil, fmt.Errorf("encoding container: %w 0x%02x", ErrUnknownHeader, header)
	}
	sorted := make([][]byte, 0, len(tokens))
	for i, t := range tokens {
		if len(t) == 0 {
			return nil, fmt.Errorf("encoding container: token %d is empty", i)
		}
		sorted = append(sorted, t)
	}
	slices.SortFunc(sorted, bytes.Compare)
	sorted = slices.CompactFunc(sorted, bytes.Equal)
	if len(sorted) > MaxTokens {
		return nil, fmt.Errorf("encoding container: %w: %d tokens, the limit is %d", ErrTooLarge, len(sorted), MaxTokens)
	}

	payload := marshal(sorted)
	if len(payload) > MaxDecodedSize {
		return nil, fmt.Errorf("encoding container: %w: %d bytes of CBOR, the limit is %d", ErrTooLarge, len(payload), MaxDecodedSize)
	}
	if l.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(payload); err != nil {
			return nil, fmt.Errorf("encoding container: gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("encoding container: gzip: %w", err)
		}
		payload = buf.Bytes()
	}
	if l.b64 != nil {
		out := make([]byte, 1+l.b64.EncodedLen(len(payload)))
		out[0] = header
		l.b64.Encode(out[1:], payload)
		return out, nil
	}
	out := make([]byte, 0, 1+len(payload))
	out = append(out, header)
	return append(out, payload...), nil
}

// Decode reads a container in any of the six encodings and returns its
// tokens in the order they appear. Errors wrap ErrInvalid, ErrTooLarge or
// ErrUnknownHeader.
func Decode(data []byte) ([][]byte, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrInvalid)
	}
	header := data[0]
	l, ok := layoutOf(header)
	if !ok {
		return nil, fmt.Errorf("%w 0x%02x", ErrUnknownHeader, header)
	}
	payload := data[1:]
	if l.b64 != nil {
		n := l.b64.DecodedLen(len(payload))
		if n > MaxDecodedSize && !l.gzip {
			return nil, fmt.Errorf("%w: %d bytes after base64 decoding, the limit is %d", ErrTooLarge, n, MaxDecodedSize)
		}
		buf := make([]byte, n)
		n, err := l.b64.Decode(buf, payload)
		if err != nil {
			return nil, fmt.Errorf("%w: header 0x%02x: base64: %v", ErrInvalid, header, err)
		}
		payload = buf[:n]
	}
	if l.gzip {
		var err error
		payload, err = gunzip(payload)
		if err != nil {
			return nil, err
		}
	}
	if len(payload) > MaxDecodedSize {
		return nil, fmt.Errorf("%w: %d bytes of CBOR, the limit is %d", ErrTooLarge, len(payload), MaxDecodedSize)
	}
	return unmarshal(payload)
}

// gunzip decompresses exactly one gzip member, reading at most
// MaxDecodedSize+1 bytes of output, and rejects anything after it.
func gunzip(data []byte) ([]byte, error) {
	r := bytes.NewReader(data)
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrInvalid, err)
	}
	zr.Multistream(false)
	out, err := io.ReadAll(io.LimitReader(zr, MaxDecodedSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrInvalid, err)
	}
	if len(out) > MaxDecodedSize {
		return nil, fmt.Errorf("%w: more than %d bytes after decompression", ErrTooLarge, MaxDecodedSize)
	}
	if err := zr.Close(); err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrInvalid, err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes of trailing data after the gzip stream", ErrInvalid, r.Len())
	}
	return out, nil
}

// marshal encodes {"ctn-v1": tokens} as DAG-CBOR.
func marshal(tokens [][]byte) []byte {
	size := 16
	for _, t := range tokens {
		size += 9 + len(t)
	}
	b := make([]byte, 0, size)
	b = cbor.AppendHead(b, cbor.MajorMap, 1)
	b = cbor.AppendText(b, key)
	b = cbor.AppendHead(b, cbor.MajorArray, uint64(len(tokens)))
	for _, t := range tokens {
		b = cbor.AppendBytes(b, t)
	}
	return b
}

// reader decodes the few CBOR items a container holds.
type reader struct {
	b   []byte
	off int
}

// head reads one CBOR head and returns its major type and argument. It rejects indefinite
// lengths and the non-shortest encodings DAG-CBOR forbids (cbor.ReadHead).
func (r *reader) head() (major byte, n uint64, err error) {
	major, n, size, err := cbor.ReadHead(r.b[r.off:])
	if err != nil {
		return 0, 0, fmt.Errorf("offset %d: %w", r.off, err)
	}
	r.off += size
	return major, n, nil
}

// body reads n bytes of string content.
func (r *reader) body(n uint64) ([]byte, error) {
	if n > uint64(len(r.b)-r.off) {
		return nil, fmt.Errorf("offset %d: length %d exceeds the %d bytes left", r.off, n, len(r.b)-r.off)
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b, nil
}

var majorNames = [8]string{"an unsigned integer", "a negative integer", "a byte string", "a text string", "an array", "a map", "a tag", "a simple value or float"}

// unmarshal decodes the container payload {"ctn-v1": [bytes...]}.
func unmarshal(data []byte) ([][]byte, error) {
	fail := func(format string, args ...any) ([][]byte, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	r := &reader{b: data}
	major, n, err := r.head()
	if err != nil {
		return fail("payload: %v", err)
	}
	if major != cbor.MajorMap {
		return fail("payload must be a map, not %s", majorNames[major])
	}
	if n != 1 {
		return fail("payload map must have exactly one key %q, it has %d", key, n)
	}
	major, n, err = r.head()
	if err != nil {
		return fail("map key: %v", err)
	}
	if major != cbor.MajorText {
		return fail("map key must be a text string, not %s", majorNames[major])
	}
	k, err := r.body(n)
	if err != nil {
		return fail("map key: %v", err)
	}
	if string(k) != key {
		return fail("unknown key %q (want %q)", truncate(k), key)
	}
	major, n, err = r.head()
	if err != nil {
		return fail("%q value: %v", key, err)
	}
	if major != cbor.MajorArray {
		return fail("%q must be an array, not %s", key, majorNames[major])
	}
	if n > MaxTokens {
		return nil, fmt.Errorf("%w: %d tokens, the limit is %d", ErrTooLarge, n, MaxTokens)
	}
	// Each token takes at least two bytes, which bounds the allocation.
	if n > uint64(len(data)-r.off)/2+1 {
		return fail("array of %d tokens in %d bytes", n, len(data)-r.off)
	}
	tokens := make([][]byte, 0, n)
	for i := range n {
		major, size, err := r.head()
		if err != nil {
			return fail("token %d: %v", i, err)
		}
		if major != cbor.MajorBytes {
			return fail("token %d must be a byte string, not %s", i, majorNames[major])
		}
		b, err := r.body(size)
		if err != nil {
			return fail("token %d: %v", i, err)
		}
		if len(b) == 0 {
			return fail("token %d is empty", i)
		}
		tokens = append(tokens, bytes.Clone(b))
	}
	if r.off != len(data) {
		return fail("%d bytes of trailing data after the container", len(data)-r.off)
	}
	return tokens, nil
}

func truncate(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "..."
	}
	return string(b)
}
