package server

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/message"
)

// MaxBlobSize is the largest blob PUT /blob/{cid} accepts, in bytes (4 GiB, DESIGN §9).
const MaxBlobSize = 4 << 30

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
	body := http.MaxBytesReader(w, r.Body, r.ContentLength)
	if err := s.opts.Blobs.Upload(r.Context(), c, body, r.ContentLength, r.URL.Query()); err != nil {
		s.writeFailure(w, r, "uploading "+c.String(), err)
		return
	}
	w.WriteHeader(http.StatusOK)
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
// open, with a single-range Range header honoured (206); car says the bytes are a CAR.
func (s *Server) sendBlob(w http.ResponseWriter, r *http.Request, c cid.Cid, car bool, open func(*blob.Range) (io.ReadCloser, blob.Info, error)) {
	rng, err := parseRange(r.Header.Get("Range"))
	if err != nil {
		writeError(w, http.StatusRequestedRangeNotSatisfiable, NameRangeNotSatisf, err.Error())
		return
	}
	rc, info, err := open(rng)
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

// parseRange parses a Range header of one byte range ("bytes=a-b", "bytes=a-"); nil for
// no header. Suffix ranges ("bytes=-n") and multiple ranges are not supported.
func parseRange(h string) (*blob.Range, error) {
	if h == "" {
		return nil, nil
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return nil, fmt.Errorf("range %q: only one byte range (bytes=start-end) is supported", h)
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok || a == "" {
		return nil, fmt.Errorf("range %q: a start offset is required", h)
	}
	start, err := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	if err != nil || start < 0 {
		return nil, fmt.Errorf("range %q: bad start offset", h)
	}
	end := int64(-1)
	if b = strings.TrimSpace(b); b != "" {
		end, err = strconv.ParseInt(b, 10, 64)
		if err != nil || end < start {
			return nil, fmt.Errorf("range %q: bad end offset", h)
		}
	}
	return &blob.Range{Start: start, End: end}, nil
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
