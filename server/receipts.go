package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// Pages of GET /receipts/{cid}?chain=1. A chain longer than a page is cut: the response
// carries ChainTruncatedHeader and ChainNextHeader, and GET /receipts/{next}?chain=1 is the
// next page. Receipts are read as stored (dag.Engine.ChainStored): their signatures were
// the service's own when written and are not verified again on each read — clients verify.
const (
	// MaxChainLength is the most receipts one page holds (?limit= at most this).
	MaxChainLength = 10000
	// DefaultChainPage is the receipts a page holds without ?limit=.
	DefaultChainPage = 1000
	// MaxChainPageBytes also ends a page: it holds receipts until their bytes reach this
	// (at least one), far below what clients accept (message.MaxReplySize).
	MaxChainPageBytes = 4 << 20
)

// ChainTruncatedHeader is set to "true" on a chain response cut at its page size.
const ChainTruncatedHeader = "W3dag-Chain-Truncated"

// ChainNextHeader names, on a cut chain response, the receipt the next page starts at
// (the origin of the page's last receipt).
const ChainNextHeader = "W3dag-Chain-Next"

// errChainLimit ends a chain walk at MaxChainLength.
var errChainLimit = errors.New("chain limit reached")

// parseCID reads the {cid} route variable, writing a 400 when it is not a CID.
func parseCID(w http.ResponseWriter, r *http.Request) (cid.Cid, bool) {
	s := mux.Vars(r)["cid"]
	c, err := cid.Decode(s)
	if err != nil {
		writeError(w, http.StatusBadRequest, NameBadRequest, fmt.Sprintf("%q is not a CID: %v", s, err))
		return cid.Undef, false
	}
	return c, true
}

// statusOf maps an error of a consumed interface to an HTTP status and error name.
func statusOf(err error) (int, string) {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, dag.ErrNotFound), errors.Is(err, blob.ErrNotFound):
		return http.StatusNotFound, NameNotFound
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, NameForbidden
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, NameConflict
	case errors.Is(err, ErrBadRequest), errors.Is(err, blob.ErrSizeMismatch), errors.Is(err, blob.ErrDigestMismatch), carscan.Invalid(err):
		return http.StatusBadRequest, NameBadRequest
	case errors.Is(err, blob.ErrInvalidRange):
		return http.StatusRequestedRangeNotSatisfiable, NameRangeNotSatisf
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, dag.ErrBusy):
		return http.StatusServiceUnavailable, NameUnavailable
	case errors.Is(err, kv.ErrFailed):
		return http.StatusServiceUnavailable, NameStoreFailed
	case errors.Is(err, dag.ErrCommit):
		return http.StatusServiceUnavailable, NameUnavailable
	}
	return http.StatusInternalServerError, NameInternal
}

// writeFailure writes err with the status statusOf gives, logging 5xx: a busy store
// (dag.ErrBusy) as a warning, the client being told to retry; a failed commit
// (dag.ErrCommit: the store refused the write, cannot be reached or has failed) at debug
// level, since the engine has reported it, the client being told to retry but not the
// store's addresses or file names; the others as errors.
func (s *Server) writeFailure(w http.ResponseWriter, r *http.Request, what string, err error) {
	status, name := statusOf(err)
	msg := what + ": " + err.Error()
	if errors.Is(err, dag.ErrCommit) {
		s.log.DebugContext(r.Context(), what, "path", r.URL.Path, "error", err)
		if errors.Is(err, kv.ErrFailed) {
			writeError(w, status, name, what+": "+storeFailedMsg)
			return
		}
		w.Header().Set("Retry-After", strconv.Itoa(BusyRetryAfter))
		writeError(w, status, name, what+": "+commitFailedMsg)
		return
	}
	if errors.Is(err, dag.ErrBusy) {
		// Nothing was written (a PUT /blob's bytes were, its delivery was not): the same
		// request may succeed shortly.
		s.log.WarnContext(r.Context(), what, "path", r.URL.Path, "error", err)
		w.Header().Set("Retry-After", strconv.Itoa(BusyRetryAfter))
		writeError(w, status, name, msg)
		return
	}
	if status >= 500 {
		s.log.ErrorContext(r.Context(), what, "path", r.URL.Path, "error", err)
		if status == http.StatusInternalServerError {
			msg = what + ": internal error"
		}
	}
	writeError(w, status, name, msg)
}

// getReceipt serves GET /receipts/{cid}. {cid} is a receipt, or an invocation (then the
// stored result receipt of its task). Formats by Accept: DAG-JSON (the receipt envelope as
// data), DAG-CBOR (the envelope bytes), otherwise a CAR v1 whose root is the receipt. With
// ?chain=1 the CAR (or DAG-JSON block list) holds the receipt and every receipt before it
// through origin links, head first, a page of at most ?limit= (DefaultChainPage) receipts
// and MaxChainPageBytes bytes; ChainNextHeader names where the next page starts.
func (s *Server) getReceipt(w http.ResponseWriter, r *http.Request) {
	c, ok := parseCID(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	chain := false
	if v := r.URL.Query().Get("chain"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, NameBadRequest, fmt.Sprintf("chain=%q is not a boolean", v))
			return
		}
		chain = b
	}
	limit := DefaultChainPage
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxChainLength {
			writeError(w, http.StatusBadRequest, NameBadRequest, fmt.Sprintf("limit=%q is not a number of receipts from 1 to %d", v, MaxChainLength))
			return
		}
		limit = n
	}
	head, err := s.receiptFor(ctx, c)
	if err != nil {
		s.writeFailure(w, r, "loading receipt "+c.String(), err)
		return
	}
	var blocks []message.Block
	truncated := false
	var next cid.Cid
	if chain {
		size := 0
		err := s.opts.Store.ChainStored(ctx, head.CID, func(t *ucan.Token, rc *receipts.Receipt) error {
			if len(blocks) == limit || len(blocks) > 0 && size+len(t.Raw) > MaxChainPageBytes {
				truncated = true
				next = t.CID
				return errChainLimit
			}
			blocks = append(blocks, message.Block{CID: t.CID, Data: t.Raw})
			size += len(t.Raw)
			return nil
		})
		if err != nil && !errors.Is(err, errChainLimit) {
			s.writeFailure(w, r, "walking the chain of "+head.CID.String(), err)
			return
		}
	} else {
		blocks = []message.Block{{CID: head.CID, Data: head.Raw}}
	}
	h := w.Header()
	h.Set("Vary", "Accept")
	if truncated {
		h.Set(ChainTruncatedHeader, "true")
		h.Set(ChainNextHeader, next.String())
	}
	if !chain && head.CID.Equals(c) {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("Etag", `"`+c.String()+`"`)
	}
	accept := r.Header.Get("Accept")
	json := wantsJSON(accept)
	var body []byte
	switch {
	case json && !chain:
		body, err = message.BlockJSON(blocks[0])
		h.Set("Content-Type", message.ContentTypeDAGJSON)
	case json:
		body, err = message.EncodeJSON([]cid.Cid{head.CID}, blocks)
		h.Set("Content-Type", message.ContentTypeDAGJSON)
	case accepts(accept, message.ContentTypeDAGCBOR) && !chain:
		body = blocks[0].Data
		h.Set("Content-Type", message.ContentTypeDAGCBOR)
	default:
		body, err = message.EncodeCAR([]cid.Cid{head.CID}, blocks)
		h.Set("Content-Type", message.ContentTypeCAR+"; version=1")
	}
	if err != nil {
		s.writeFailure(w, r, "encoding receipt "+head.CID.String(), err)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// receiptFor returns the receipt c names: c itself when it is a stored receipt, the
// stored result of its task when c is an invocation.
func (s *Server) receiptFor(ctx context.Context, c cid.Cid) (*ucan.Token, error) {
	raw, err := s.opts.Store.Block(ctx, c)
	if err != nil {
		return nil, err
	}
	tok, err := ucan.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("stored block is not a token: %w", err)
	}
	if tok.Invocation == nil {
		return nil, fmt.Errorf("%w: %s is a delegation, not a receipt", ErrNotFound, c)
	}
	if tok.Invocation.Command == receipts.Command {
		return tok, nil
	}
	task, err := tok.Invocation.Task()
	if err != nil {
		return nil, fmt.Errorf("task of invocation %s: %w", c, err)
	}
	rc, err := s.opts.Store.TaskResult(ctx, task)
	if err != nil {
		return nil, fmt.Errorf("no stored result for invocation %s: %w", c, err)
	}
	raw, err = s.opts.Store.Block(ctx, rc)
	if err != nil {
		return nil, err
	}
	return ucan.Decode(raw)
}

// accepts reports whether the Accept header lists the media type mt.
func accepts(accept, mt string) bool {
	for _, part := range splitAccept(accept) {
		if part == mt {
			return true
		}
	}
	return false
}
