package conformance

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/collection"
)

// caseSchema checks GET /schema: a JSON document listing the space and service
// collections, with at least the built-in space collections store and upload and their
// types, key rules and key fields, the exercised collection, and the schema sources; and
// that its ETag revalidates with 304.
func caseSchema(ctx context.Context, t T, target Target) {
	hc := target.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(target.URL, "/")+"/schema", nil)
	if err != nil {
		t.Fatalf("GET /schema: %v", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET /schema: %v", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, client.MaxSchemaSize))
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET /schema: reading the body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /schema: HTTP %d: %.200s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET /schema: Content-Type %q, want application/json", ct)
	}
	var doc client.Schema
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("GET /schema: not the JSON document: %v: %.200s", err, body)
	}

	want := []collection.Info{
		{Name: "store", Key: "car-cid", KeyField: "link", Writers: "authority", Input: "StoreInput", State: "StoreStatus"},
		{Name: "upload", Key: "cid", KeyField: "root", Writers: "authority", Input: "UploadInput", State: "UploadStatus"},
	}
	for _, w := range want {
		c, ok := doc.Collection("space", w.Name)
		if !ok {
			t.Errorf("GET /schema: no space collection %s", w.Name)
			continue
		}
		if c.Key != w.Key || c.KeyField != w.KeyField || c.Writers != w.Writers || c.Input != w.Input || c.State != w.State || c.SchemaOnly {
			t.Errorf("GET /schema: space collection %s is %+v, want %+v", w.Name, c, w)
		}
		if !slices.Contains(c.Statuses, "done") || !slices.Contains(c.Statuses, "removed") {
			t.Errorf("GET /schema: space collection %s has statuses %v, want done and removed among them", w.Name, c.Statuses)
		}
	}
	collection := target.Collection
	if collection == "" {
		collection = DefaultCollection
	}
	if _, ok := doc.Collection("space", collection); !ok {
		t.Errorf("GET /schema: the exercised collection %s is not listed", collection)
	}
	if len(doc.Collections.Service) == 0 {
		t.Errorf("GET /schema: no service collections")
	}
	for _, c := range doc.Collections.Service {
		if c.Writers != "service" {
			t.Errorf("GET /schema: service collection %s is written by %q, want service", c.Name, c.Writers)
		}
	}
	if len(doc.Sources) == 0 || !strings.Contains(doc.Sources[0].Text, "type Space struct") {
		t.Errorf("GET /schema: the first source is not the system schema: %+v", doc.Sources)
	}

	if tag := resp.Header.Get("ETag"); tag != "" {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, req.URL.String(), nil)
		req.Header.Set("If-None-Match", tag)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET /schema with If-None-Match: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET /schema with If-None-Match %s: HTTP %d, want 304", tag, resp.StatusCode)
		}
	}
}
