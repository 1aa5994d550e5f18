package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/message"
)

// MaxBlobSize is the largest blob PUT /blob/{cid} accepts, in bytes (4 GiB, DESIGN §9).
const MaxBlobSize = 4 << 30

// UploadChecker is implemented by Blobs that can check an upload URL (the signed query,
// expiry, size) before the body is read; PUT /blob then refuses a bad URL before it takes
// a place among Options.MaxUploads. Errors as Blobs.Upload's.
type UploadChecker interface {
	CheckUpload(ctx context.Context, c cid.Cid, size int64, query url.Values) error
}

// putBlob serves PUT /blob/{cid}: the upload URL of a pending store entry. The body must
// have a Content-Length; Blobs.Upload checks the signed query and the bytes.
func (s *Server) putBlob(w http.ResponseWriter, r *http.Request) {
	c, ok := parseCID(w, r)
	if !ok {
		return
	}
	if r.ContentLength < 0 {
		writeError(w, http.StatusLengthRequired, NameBadRequest, "Content-Length is required")
		return
	}
	if r.ContentLength > MaxBlobSize {
		writeError(w, http.StatusRequestEntityTooLarge, NameTooLarge,
			fmt.Sprintf("blob is %d bytes, the limit is %d", r.ContentLength, int64(MaxBlobSize)))
		return
	}
	// Uploads whose URL is not good are refused before they take a place.
	if ck, ok := s.opts.Blobs.(UploadChecker); ok {
		if err := ck.CheckUpload(r.Context(), c, r.ContentLength, r.URL.Query()); err != nil {
			s.writeFailure(w, r, "uploading "+c.String(), err)
			return
		}
	}
	// One upload at a time per upload URL (CID and signed query).
	done, why := s.uploads.admit(c.KeyString() + "?" + r.URL.RawQuery)
	switch why {
	case errUploadBusy:
		writeError(w, http.StatusConflict, NameConflict, "another upload through this URL of "+c.String()+" is in progress; retry if it fails")
		return
	case errUploadsFull:
		w.Header().Set("Retry-After", strconv.Itoa(UploadRetryAfter))
		writeError(w, http.StatusServiceUnavailable, NameUnavailable,
			fmt.Sprintf("%d uploads are in progress, the most this service receives at once; retry later", s.opts.MaxUploads))
		return
	}
	defer done()
	rb := newRateBody(w, r, s.opts.MinBodyRate, 0)
	defer rb.Close()
	body := http.MaxBytesReader(w, rb, r.ContentLength)
	if err := s.opts.Blobs.Upload(r.Context(), c, body, r.ContentLength, r.URL.Query()); err != nil {
		if status, msg := clientFault(r, err); status != 0 {
			s.log.InfoContext(r.Context(), "upload cut short by the client", "cid", c.String(), "status", status, "error", err)
			writeError(w, status, NameBadRequest, "uploading "+c.String()+": "+msg)
			return
		}
		s.writeFailure(w, r, "uploading "+c.String(), err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// clientFault returns the status and message of an upload failure the client caused
// (its body ended before Content-Length, came too slowly, or it went away), or 0: such
// failures are 4xx and not logged as errors.
func clientFault(r *http.Request, err error) (int, string) {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest, fmt.Sprintf("the body ended before its Content-Length of %d bytes", r.ContentLength)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return http.StatusRequestTimeout, "the body came too slowly: " + err.Error()
	case r.Context().Err() != nil:
		return http.StatusBadRequest, "the client went away: " + r.Context().Err().Error()
	}
	return 0, ""
}

// getBlob serves GET /blob/{cid}, with a single-range Range header honoured (206).
func (s *Server) getBlob(w http.ResponseWriter, r *http.Request) {
	c, ok := parseCID(w, r)
	if !ok {
		return
	}
	s.sendBlob(w, r, c, c.Type() == message.CodecCAR, func(rng *blob.Range) (io.ReadCloser, blob.Info, error) {
		return s.opts.Blobs.Open(r.Context(), c, rng)
	})
}

// sendBlob answers a GET or HEAD of the bytes of c (a blob, or a piece's CAR) opened by
// open, with a single-range Range header honoured as RFC 9110 §14 says: an end past the
// blob is clamped (206), a suffix range ("bytes=-n") is the last n bytes, and a range
// that starts past the end is 416 with "Content-Range: bytes */size". A Range header of
// another unit is ignored (200, the whole blob). car says the bytes are a CAR.
func (s *Server) sendBlob(w http.ResponseWriter, r *http.Request, c cid.Cid, car bool, open func(*blob.Range) (io.ReadCloser, blob.Info, error)) {
	spec, err := parseRange(r.Header.Get("Range"))
	if err != nil {
		writeError(w, http.StatusRequestedRangeNotSatisfiable, NameRangeNotSatisf, err.Error())
		return
	}
	rc, info, rng, err := openRange(spec, open)
	if errors.Is(err, blob.ErrInvalidRange) {
		s.unsatisfiable(w, r, c, spec, open)
		return
	}
	if err != nil {
		s.writeFailure(w, r, "reading "+c.String(), err)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Accept-Ranges", "bytes")
	h.Set("Etag", `"`+c.String()+`"`)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	if car {
		h.Set("Content-Type", message.ContentTypeCAR)
	} else {
		h.Set("Content-Type", "application/octet-stream")
	}
	status := http.StatusOK
	length := info.Size
	if rng != nil {
		end := rng.End
		if end < 0 || end >= info.Size {
			end = info.Size - 1
		}
		length = end - rng.Start + 1
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rng.Start, end, info.Size))
		status = http.StatusPartialContent
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.CopyN(w, rc, length); err != nil {
		s.log.WarnContext(r.Context(), "sending blob", "cid", c.String(), "error", err)
	}
}

// openRange opens the bytes spec asks for and returns the range it resolved to (nil: the
// whole blob). Backends want ranges inside the blob, so an end past the blob is retried
// open-ended (the copy stops at the clamped end), and a suffix range first learns the
// size. blob.ErrInvalidRange means the range is not satisfiable.
func openRange(spec *rangeSpec, open func(*blob.Range) (io.ReadCloser, blob.Info, error)) (io.ReadCloser, blob.Info, *blob.Range, error) {
	if spec == nil {
		rc, info, err := open(nil)
		return rc, info, nil, err
	}
	if spec.suffix >= 0 {
		size, err := blobSize(open)
		if err != nil {
			return nil, blob.Info{}, nil, err
		}
		if spec.suffix == 0 || size == 0 {
			return nil, blob.Info{}, nil, fmt.Errorf("%w: the last %d bytes of a %d-byte blob", blob.ErrInvalidRange, spec.suffix, size)
		}
		rng := &blob.Range{Start: max(0, size-spec.suffix), End: size - 1}
		rc, info, err := open(rng)
		return rc, info, rng, err
	}
	rng := &blob.Range{Start: spec.start, End: spec.end}
	rc, info, err := open(rng)
	if errors.Is(err, blob.ErrInvalidRange) && spec.end >= 0 {
		rng = &blob.Range{Start: spec.start, End: -1}
		rc, info, err = open(rng)
		if err == nil && spec.end < info.Size {
			rng.End = spec.end
		}
	}
	return rc, info, rng, err
}

// blobSize learns the size of a blob by opening its first byte (Info describes the whole
// blob); an empty blob has no first byte and is size 0.
func blobSize(open func(*blob.Range) (io.ReadCloser, blob.Info, error)) (int64, error) {
	rc, info, err := open(&blob.Range{Start: 0, End: 0})
	if errors.Is(err, blob.ErrInvalidRange) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	rc.Close()
	return info.Size, nil
}

// unsatisfiable answers 416 with the blob's size in Content-Range (RFC 9110 §15.5.17),
// or the failure to learn it.
func (s *Server) unsatisfiable(w http.ResponseWriter, r *http.Request, c cid.Cid, spec *rangeSpec, open func(*blob.Range) (io.ReadCloser, blob.Info, error)) {
	size, err := blobSize(open)
	if err != nil {
		s.writeFailure(w, r, "reading "+c.String(), err)
		return
	}
	w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
	writeError(w, http.StatusRequestedRangeNotSatisfiable, NameRangeNotSatisf,
		fmt.Sprintf("range %s is not satisfiable: %s is %d bytes", spec, c, size))
}

// rangeSpec is one byte range of a Range header: first-last (last -1: to the end), or the
// last suffix bytes when suffix >= 0.
type rangeSpec struct {
	start, end int64
	suffix     int64
}

func (r *rangeSpec) String() string {
	switch {
	case r.suffix >= 0:
		return fmt.Sprintf("bytes=-%d", r.suffix)
	case r.end < 0:
		return fmt.Sprintf("bytes=%d-", r.start)
	}
	return fmt.Sprintf("bytes=%d-%d", r.start, r.end)
}

// parseRange parses a Range header of one byte range ("bytes=a-b", "bytes=a-" or the
// suffix "bytes=-n"); nil for no header, and for a range unit other than bytes, which RFC
// 9110 says to ignore. Multiple ranges are not supported.
func parseRange(h string) (*rangeSpec, error) {
	if h == "" {
		return nil, nil
	}
	unit, spec, ok := strings.Cut(h, "=")
	if !ok {
		return nil, fmt.Errorf("range %q: want bytes=start-end", h)
	}
	if !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return nil, nil
	}
	if strings.Contains(spec, ",") {
		return nil, fmt.Errorf("range %q: only one byte range (bytes=start-end) is supported", h)
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return nil, fmt.Errorf("range %q: want bytes=start-end, bytes=start- or bytes=-length", h)
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("range %q: bad suffix length", h)
		}
		return &rangeSpec{suffix: n, end: -1}, nil
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return nil, fmt.Errorf("range %q: bad start offset", h)
	}
	end := int64(-1)
	if b != "" {
		end, err = strconv.ParseInt(b, 10, 64)
		if err != nil || end < start {
			return nil, fmt.Errorf("range %q: bad end offset", h)
		}
	}
	return &rangeSpec{start: start, end: end, suffix: -1}, nil
}

// getClaims serves GET /claims/{cid}: the location claims of a CAR, as a CAR whose roots
// are the claims (or DAG-JSON when asked).
func (s *Server) getClaims(w http.ResponseWriter, r *http.Request) {
	c, ok := parseCID(w, r)
	if !ok {
		return
	}
	tokens, err := s.opts.Claims.Claims(r.Context(), c)
	if err != nil {
		s.writeFailure(w, r, "claims of "+c.String(), err)
		return
	}
	if len(tokens) == 0 {
		writeError(w, http.StatusNotFound, NameNotFound, "no location claims for "+c.String())
		return
	}
	roots := make([]cid.Cid, len(tokens))
	blocks := make([]message.Block, len(tokens))
	for i, t := range tokens {
		roots[i] = t.CID
		blocks[i] = message.Block{CID: t.CID, Data: t.Raw}
	}
	var body []byte
	if wantsJSON(r.Header.Get("Accept")) {
		body, err = message.EncodeJSON(roots, blocks)
		w.Header().Set("Content-Type", message.ContentTypeDAGJSON)
	} else {
		body, err = message.EncodeCAR(roots, blocks)
		w.Header().Set("Content-Type", message.ContentTypeCAR+"; version=1")
	}
	if err != nil {
		s.writeFailure(w, r, "encoding claims of "+c.String(), err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}
