package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Subject kinds of CollectionInfo.Subject.
const (
	SubjectSpace   = "space"
	SubjectService = "service"
)

// Key rules of CollectionInfo.Key: how entry keys of the collection are written.
const (
	// KeyString: any non-empty path segment.
	KeyString = "string"
	// KeyCID: a CID (in its canonical string form).
	KeyCID = "cid"
	// KeyCARCID: the CID of a CAR (codec 0x0202).
	KeyCARCID = "car-cid"
)

// Writers of CollectionInfo.Writers: who may dag/put and dag/remove entries.
const (
	// WritersAuthority: any agent with authority over the subject (a UCAN chain from it).
	WritersAuthority = "authority"
	// WritersService: the service only (its own transitions).
	WritersService = "service"
)

// CollectionInfo describes one collection in GET /schema. It is plain data: the
// composition root fills it from the schema and the engine's rules.
type CollectionInfo struct {
	// Subject is SubjectSpace or SubjectService; GET /schema groups collections by it.
	Subject string `json:"-"`
	// Name is the path segment of the collection, e.g. "store".
	Name string `json:"name"`
	// Key is the key rule: KeyString, KeyCID or KeyCARCID.
	Key string `json:"key"`
	// KeyField names the link field of the input that must equal the key, "" for none.
	KeyField string `json:"keyField,omitempty"`
	// Writers is WritersAuthority or WritersService.
	Writers string `json:"writers"`
	// Input is the schema type a dag/put value must match.
	Input string `json:"input"`
	// State is the schema type of an entry's state (an inline union on "status").
	State string `json:"state"`
	// Statuses are the values of the state's "status", in schema order.
	Statuses []string `json:"statuses"`
	// SchemaOnly is true for collections declared by a schema extension alone, run by
	// the generic record machine (put → done, remove → removed); false for collections
	// with a machine of their own.
	SchemaOnly bool `json:"schemaOnly"`
	// Machine is true for collections with a machine of their own (not the generic record
	// machine); false for schema-only ones and for those whose entries the service writes
	// itself, with no machine (usage records, tasks).
	Machine bool `json:"machine"`
}

// SchemaSource is one source of the schema in GET /schema: its name (a file name, or
// "system.ipldsch" for the embedded system schema) and its IPLD schema DSL text.
type SchemaSource struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// SchemaDocument is the JSON body of GET /schema.
type SchemaDocument struct {
	Collections struct {
		Space   []CollectionInfo `json:"space"`
		Service []CollectionInfo `json:"service"`
	} `json:"collections"`
	Sources []SchemaSource `json:"sources"`
}

// schemaDocument checks the description in opts and renders GET /schema's body; nil
// when opts describes nothing (the route is then not mounted).
func schemaDocument(opts Options) ([]byte, error) {
	if len(opts.Collections) == 0 && len(opts.SchemaSources) == 0 {
		return nil, nil
	}
	var doc SchemaDocument
	doc.Collections.Space = []CollectionInfo{}
	doc.Collections.Service = []CollectionInfo{}
	doc.Sources = append([]SchemaSource{}, opts.SchemaSources...)
	for i, c := range opts.Collections {
		switch {
		case c.Name == "":
			return nil, fmt.Errorf("collection %d has no name", i)
		case c.Key != KeyString && c.Key != KeyCID && c.Key != KeyCARCID:
			return nil, fmt.Errorf("collection %s: key rule %q is not %s, %s or %s", c.Name, c.Key, KeyString, KeyCID, KeyCARCID)
		case c.Writers != WritersAuthority && c.Writers != WritersService:
			return nil, fmt.Errorf("collection %s: writers %q is not %s or %s", c.Name, c.Writers, WritersAuthority, WritersService)
		case c.Input == "" || c.State == "":
			return nil, fmt.Errorf("collection %s: input and state types are required", c.Name)
		}
		if c.Statuses == nil {
			c.Statuses = []string{}
		}
		switch c.Subject {
		case SubjectSpace:
			doc.Collections.Space = append(doc.Collections.Space, c)
		case SubjectService:
			doc.Collections.Service = append(doc.Collections.Service, c)
		default:
			return nil, fmt.Errorf("collection %s: subject %q is not %s or %s", c.Name, c.Subject, SubjectSpace, SubjectService)
		}
	}
	for i, s := range doc.Sources {
		if s.Name == "" {
			return nil, fmt.Errorf("schema source %d has no name", i)
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
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
