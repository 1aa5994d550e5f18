package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/blob"
)

const (
	// MaxReportSize is the largest POST /broker/report body, in bytes.
	MaxReportSize = 64 << 10
	// MaxProvider is the longest provider of a deal report, in bytes (a Filecoin
	// address has at most 86 characters). The deal is kept in the aggregate's state and
	// in every member piece's.
	MaxProvider = 256
	// MaxReason is the longest reason of a failure report, in bytes. It is kept in the
	// aggregate's failed state, in that state's receipt and in the report invocation's
	// args, each a token of at most ucan.MaxTokenSize (a reason near that size made the
	// report fail with a 500, which a broker retries).
	MaxReason = 4 << 10
)

// Pieces serves GET /piece/{cid}: the CAR bytes of a Filecoin piece, for deal brokers
// (docs/broker.md §2).
type Pieces interface {
	// OpenPiece returns the bytes of the CAR whose piece (v2 piece CID) is pc, or the
	// range rng of them, and the Info of the whole CAR; ErrNotFound (wrapped) for an
	// unknown piece, blob.ErrInvalidRange.
	OpenPiece(ctx context.Context, pc cid.Cid, rng *blob.Range) (io.ReadCloser, blob.Info, error)
}

// Deal is the deal of a broker report (docs/broker.md §3).
type Deal struct {
	Provider string `json:"provider"`
	DealID   uint64 `json:"dealId"`
	Expires  int64  `json:"expires"`
}

// Failure is the failure of a broker report.
type Failure struct {
	Reason string `json:"reason"`
}

// Report is the body of POST /broker/report/{aggregate}: exactly one of Deal and Failure.
type Report struct {
	Deal    *Deal    `json:"deal,omitempty"`
	Failure *Failure `json:"failure,omitempty"`
}

// Check returns an error unless r is one of the two forms of the protocol: a deal with a
// provider (at most MaxProvider bytes), or a failure with a reason (at most MaxReason
// bytes). The error names what is wrong.
func (r Report) Check() error {
	switch {
	case r.Deal != nil && r.Failure != nil:
		return errors.New("a report is a deal or a failure, not both")
	case r.Deal != nil:
		if r.Deal.Provider == "" {
			return errors.New("deal: provider is required")
		}
		if n := len(r.Deal.Provider); n > MaxProvider {
			return fmt.Errorf("deal: provider is %d bytes, at most %d", n, MaxProvider)
		}
		if r.Deal.DealID > math.MaxInt64 {
			return fmt.Errorf("deal: dealId %d is over %d", r.Deal.DealID, int64(math.MaxInt64))
		}
		return nil
	case r.Failure != nil:
		if r.Failure.Reason == "" {
			return errors.New("failure: reason is required")
		}
		if n := len(r.Failure.Reason); n > MaxReason {
			return fmt.Errorf("failure: reason is %d bytes, at most %d", n, MaxReason)
		}
		return nil
	}
	return errors.New(`a report is {"deal": {...}} or {"failure": {...}}`)
}

// Broker takes the reports of a deal broker (docs/broker.md §3).
type Broker interface {
	// Authorize checks the sig query parameter of a report URL for the aggregate piece
	// CID agg: ErrForbidden (wrapped) when it is not the service's.
	Authorize(agg cid.Cid, sig string) error
	// Report applies a checked report to the aggregate agg: ErrNotFound (wrapped) for
	// an unknown aggregate, ErrConflict (wrapped) for one not in deal_pending (or
	// already processed differently); a report already applied is nil.
	Report(ctx context.Context, agg cid.Cid, r Report) error
}

// getPiece serves GET /piece/{cid}: the CAR bytes of a piece, Range supported.
func (s *Server) getPiece(w http.ResponseWriter, r *http.Request) {
	c, ok := parseCID(w, r)
	if !ok {
		return
	}
	s.sendBlob(w, r, c, true, func(rng *blob.Range) (io.ReadCloser, blob.Info, error) {
		return s.opts.Pieces.OpenPiece(r.Context(), c, rng)
	})
}

// postReport serves POST /broker/report/{aggregate}?sig=…: 403 for a bad sig, 400 for a
// body that is not a report, 404 for an unknown aggregate, 409 for one not waiting for a
// deal, 200 when the report is applied (or was already).
func (s *Server) postReport(w http.ResponseWriter, r *http.Request) {
	raw := mux.Vars(r)["aggregate"]
	agg, err := cid.Decode(raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, NameBadRequest, fmt.Sprintf("%q is not a CID: %v", raw, err))
		return
	}
	if err := s.opts.Broker.Authorize(agg, r.URL.Query().Get("sig")); err != nil {
		s.writeFailure(w, r, "report for "+raw, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxReportSize))
	if err != nil {
		writeError(w, http.StatusBadRequest, NameBadRequest, "reading the report: "+err.Error())
		return
	}
	var rep Report
	if err := json.Unmarshal(body, &rep); err != nil {
		writeError(w, http.StatusBadRequest, NameBadRequest, "the report is not JSON: "+err.Error())
		return
	}
	if err := rep.Check(); err != nil {
		writeError(w, http.StatusBadRequest, NameBadRequest, "the report: "+err.Error())
		return
	}
	if err := s.opts.Broker.Report(r.Context(), agg, rep); err != nil {
		s.writeFailure(w, r, "report for "+raw, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte("{}\n"))
}
