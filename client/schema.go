package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxSchemaSize bounds the GET /schema document the client reads: the system schema and
// extensions (each at most 1 MiB on the service) with their descriptions.
const MaxSchemaSize = 16 << 20

// Schema is the service's description of its DAG (GET /schema): the collections of spaces
// and of the service, and the IPLD schema sources they are declared in.
type Schema struct {
	Collections struct {
		Space   []Collection `json:"space"`
		Service []Collection `json:"service"`
	} `json:"collections"`
	Sources []SchemaSource `json:"sources"`
}

// Collection describes one collection of a subject.
type Collection struct {
	// Name is the path segment, e.g. "store".
	Name string `json:"name"`
	// Key is how entry keys are written: "string", "cid" or "car-cid" (a CID of a CAR).
	Key string `json:"key"`
	// KeyField names the link field of the input that must equal the key ("" for none).
	KeyField string `json:"keyField,omitempty"`
	// Writers is who may put and remove entries: "authority" (any agent with a UCAN
	// chain from the subject) or "service" (the service only).
	Writers string `json:"writers"`
	// Input is the schema type of put values; State the type of entry states.
	Input string `json:"input"`
	State string `json:"state"`
	// Statuses are the values of the state's "status", in schema order.
	Statuses []string `json:"statuses"`
	// SchemaOnly is true for collections run by the generic record machine
	// (put → done, remove → removed), false for those with a machine of their own.
	SchemaOnly bool `json:"schemaOnly"`
	// Machine is true for collections with a machine of their own; false for schema-only
	// ones and for those whose entries the service writes itself (usage records, tasks).
	Machine bool `json:"machine"`
}

// SchemaSource is one IPLD schema source: its name (file name, "system.ipldsch" for the
// system schema) and DSL text.
type SchemaSource struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// Collection returns the collection name of subject kind subject ("space" or
// "service"), if the service has it.
func (s *Schema) Collection(subject, name string) (Collection, bool) {
	var cols []Collection
	switch subject {
	case "space":
		cols = s.Collections.Space
	case "service":
		cols = s.Collections.Service
	}
	for _, c := range cols {
		if c.Name == name {
			return c, true
		}
	}
	return Collection{}, false
}

// Schema fetches the service's schema description (GET /schema).
func (c *Client) Schema(ctx context.Context) (*Schema, error) {
	return FetchSchema(ctx, c.http, c.url)
}

// FetchSchema fetches GET url/schema; it needs no agent key. A nil hc means
// http.DefaultClient. A service without the route answers with an *HTTPError (404).
func FetchSchema(ctx context.Context, hc *http.Client, url string) (*Schema, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(url, "/")+"/schema", nil)
	if err != nil {
		return nil, fmt.Errorf("client: fetching schema: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: fetching schema: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("client: fetching schema: %w", httpError(resp))
	}
	var s Schema
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxSchemaSize+1))
	if err != nil {
		return nil, fmt.Errorf("client: fetching schema: %w", err)
	}
	if len(data) > MaxSchemaSize {
		return nil, fmt.Errorf("client: fetching schema: %w: document larger than %d bytes", ErrInvalidResponse, MaxSchemaSize)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("client: fetching schema: %w: %v", ErrInvalidResponse, err)
	}
	return &s, nil
}
