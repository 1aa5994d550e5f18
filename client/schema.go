package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/w3dag/w3dag/collection"
)

// MaxSchemaSize bounds the GET /schema document the client reads: the system schema and
// extensions (each at most 1 MiB on the service) with their descriptions.
const MaxSchemaSize = 16 << 20

// Schema is the service's description of its DAG (GET /schema): the collections of spaces
// and of the service, and the IPLD schema sources they are declared in.
type Schema = collection.Description

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
