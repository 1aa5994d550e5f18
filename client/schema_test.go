package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFetchSchema(t *testing.T) {
	const doc = `{"collections":{"space":[{"name":"store","key":"car-cid","keyField":"link","writers":"authority","input":"StoreInput","state":"StoreStatus","statuses":["queued","done"],"schemaOnly":false},{"name":"pins","key":"string","writers":"authority","input":"Pin","state":"RecordStatus","statuses":["done","removed"],"schemaOnly":true}],"service":[{"name":"task","key":"cid","writers":"service","input":"TaskInput","state":"TaskStatus","statuses":[],"schemaOnly":false}]},"sources":[{"name":"system.ipldsch","text":"type Space struct {}\n"}]}`
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr error  // errors.Is target, nil for success
		errText string // substring of the error
	}{
		{"ok", http.StatusOK, doc, nil, ""},
		{"not mounted", http.StatusNotFound, `{"error":{"name":"NotFound","message":"no route for GET /schema"}}`, nil, "HTTP 404: NotFound: no route for GET /schema"},
		{"not json", http.StatusOK, `<html>`, ErrInvalidResponse, "invalid response"},
		{"too large", http.StatusOK, `{"sources":[{"name":"x","text":"` + strings.Repeat("a", MaxSchemaSize) + `"}]}`, ErrInvalidResponse, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/schema" || r.Method != http.MethodGet {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			agent, _, _ := agentWithSpace(t)
			c, err := New(Options{URL: srv.URL + "/", Signer: agent})
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.Schema(context.Background())
			if tt.errText != "" {
				var he *HTTPError
				if err == nil || !strings.Contains(err.Error(), tt.errText) ||
					(tt.wantErr != nil && !errors.Is(err, tt.wantErr)) ||
					(tt.status != http.StatusOK && !errors.As(err, &he)) {
					t.Fatalf("error %v, want %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			store, ok := s.Collection("space", "store")
			if !ok || store.Key != "car-cid" || store.KeyField != "link" || store.Input != "StoreInput" || len(store.Statuses) != 2 || store.SchemaOnly {
				t.Errorf("store: %+v", store)
			}
			if pins, ok := s.Collection("space", "pins"); !ok || !pins.SchemaOnly || pins.Writers != "authority" {
				t.Errorf("pins: %+v", pins)
			}
			if task, ok := s.Collection("service", "task"); !ok || task.Writers != "service" || task.Key != "cid" {
				t.Errorf("task: %+v", task)
			}
			if _, ok := s.Collection("service", "store"); ok {
				t.Error("store found under the service")
			}
			if len(s.Sources) != 1 || s.Sources[0].Name != "system.ipldsch" || s.Sources[0].Text != "type Space struct {}\n" {
				t.Errorf("sources %+v", s.Sources)
			}
		})
	}
}
