package server

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Errors that implementations of Blobs, Claims, Pieces and Broker return (wrapped) to choose the HTTP
// status. Other errors from them are 500s.
var (
	// ErrForbidden: the request's signature or token does not allow it (403).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: nothing at that CID (404). blob.ErrNotFound and dag.ErrNotFound map
	// to 404 as well.
	ErrNotFound = errors.New("not found")
	// ErrBadRequest: the request is malformed, e.g. bytes that are not the CID's (400).
	// blob.ErrSizeMismatch and blob.ErrDigestMismatch map to 400 as well.
	ErrBadRequest = errors.New("bad request")
	// ErrConflict: the request does not fit the current state, e.g. a broker report
	// for an aggregate that is not waiting for a deal (409).
	ErrConflict = errors.New("conflict")
)

// Error names of transport failures, the "name" of the JSON error body.
const (
	NameMalformed        = "MalformedMessage"     // 400: not a CAR / container / token
	NameBadRequest       = "BadRequest"           // 400: bad parameter
	NameTooLarge         = "MessageTooLarge"      // 413: body or a limit exceeded
	NameUnsupportedMedia = "UnsupportedMediaType" // 415
	NameNotFound         = "NotFound"             // 404
	NameGatewayOff       = "GatewayDisabled"      // 404: /ipfs/ and /index/ on a service without a gateway
	NameUnauthorized     = "Unauthorized"         // 401: no or unusable bearer token
	NameForbidden        = "Forbidden"            // 403
	NameMethodNotAllowed = "MethodNotAllowed"     // 405
	NameRangeNotSatisf   = "RangeNotSatisfiable"  // 416
	NameConflict         = "Conflict"             // 409
	NameTooManyWatchers  = "TooManyWatchers"      // 429: watch streams on one subject
	NameArchive          = "ArchiveUnavailable"   // 503: the request could not be archived
	NameUnavailable      = "Unavailable"          // 503: shutting down
	NameStoreFailed      = "StoreFailed"          // 503: the store takes no writes until the service restarts
	NameInternal         = "InternalError"        // 500
)

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// writeError writes the JSON error body with the given status.
func writeError(w http.ResponseWriter, status int, name, msg string) {
	b, _ := json.Marshal(errorBody{Error: errorDetail{Name: name, Message: msg}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
