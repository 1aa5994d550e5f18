package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/w3dag/w3dag/collection"
)

// schemaDocument checks opts.Schema and renders GET /schema's body; nil when there is
// none (the route is then not mounted).
func schemaDocument(opts Options) ([]byte, error) {
	if opts.Schema == nil {
		return nil, nil
	}
	doc := *opts.Schema
	if err := doc.Check(); err != nil {
		return nil, err
	}
	// Empty lists are [] in JSON, not null (on copies: opts.Schema is the caller's).
	doc.Collections.Space = listed(doc.Collections.Space)
	doc.Collections.Service = listed(doc.Collections.Service)
	doc.Sources = nonNil(doc.Sources)
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// listed copies cols with every Statuses non-nil.
func listed(cols []collection.Info) []collection.Info {
	out := make([]collection.Info, len(cols))
	for i, c := range cols {
		c.Statuses = nonNil(c.Statuses)
		out[i] = c
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// getSchema serves GET /schema: the document built once in New, with an ETag so clients
// can revalidate cheaply (the schema does not change while the server runs).
func (s *Server) getSchema(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", s.schemaETag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.schemaDoc))
}

// etag is a strong entity tag of body.
func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}
