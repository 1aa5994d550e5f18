package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// stub satisfies the required interfaces of Options; GET /schema calls none of them.
type stub struct {
	Runner
	Store
	Archive
}

func schemaServer(t *testing.T, cols []CollectionInfo, srcs []SchemaSource) (*Server, error) {
	t.Helper()
	return New(Options{Service: mustKey(t), Runner: stub{}, Store: stub{}, Archive: stub{}, Collections: cols, SchemaSources: srcs})
}

func TestGetSchema(t *testing.T) {
	store := CollectionInfo{Subject: SubjectSpace, Name: "store", Key: KeyCARCID, KeyField: "link", Writers: WritersAuthority,
		Input: "StoreInput", State: "StoreStatus", Statuses: []string{"queued", "done"}}
	pins := CollectionInfo{Subject: SubjectSpace, Name: "pins", Key: KeyString, Writers: WritersAuthority,
		Input: "Pin", State: "RecordStatus", Statuses: []string{"done", "removed"}, SchemaOnly: true}
	task := CollectionInfo{Subject: SubjectService, Name: "task", Key: KeyCID, Writers: WritersService,
		Input: "TaskInput", State: "TaskStatus"}
	srcs := []SchemaSource{{Name: "system.ipldsch", Text: "type Space struct {}\n"}, {Name: "pins.ipldsch", Text: "type Pin struct {}\n"}}
	s, err := schemaServer(t, []CollectionInfo{store, task, pins}, srcs)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/schema", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("ETag") == "" {
		t.Fatalf("GET /schema: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	var doc SchemaDocument
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	store.Subject, pins.Subject, task.Subject = "", "", ""
	task.Statuses = []string{}
	if !reflect.DeepEqual(doc.Collections.Space, []CollectionInfo{store, pins}) || !reflect.DeepEqual(doc.Collections.Service, []CollectionInfo{task}) ||
		!reflect.DeepEqual(doc.Sources, srcs) {
		t.Fatalf("document %+v", doc)
	}
	for _, want := range []string{`"key":"car-cid"`, `"keyField":"link"`, `"writers":"service"`, `"schemaOnly":true`, `"statuses":[]`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("body lacks %s: %s", want, rec.Body)
		}
	}
	if strings.Contains(rec.Body.String(), `"subject"`) {
		t.Errorf("collections repeat their subject: %s", rec.Body)
	}

	// Revalidation, HEAD and other methods.
	req := httptest.NewRequest(http.MethodGet, "/schema", nil)
	req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
	rec2 := httptest.NewRecorder()
	s.ServeHTTP(rec2, req)
	if rec2.Code != http.StatusNotModified || rec2.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d %s", rec2.Code, rec2.Body)
	}
	rec3 := httptest.NewRecorder()
	s.ServeHTTP(rec3, httptest.NewRequest(http.MethodHead, "/schema", nil))
	if rec3.Code != http.StatusOK || rec3.Body.Len() != 0 {
		t.Errorf("HEAD: %d %s", rec3.Code, rec3.Body)
	}
	rec4 := httptest.NewRecorder()
	s.ServeHTTP(rec4, httptest.NewRequest(http.MethodPost, "/schema", strings.NewReader("{}")))
	if rec4.Code != http.StatusMethodNotAllowed || !strings.Contains(rec4.Body.String(), NameMethodNotAllowed) {
		t.Errorf("POST: %d %s", rec4.Code, rec4.Body)
	}
}

func TestGetSchemaNotConfigured(t *testing.T) {
	s, err := schemaServer(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/schema", nil))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"name":"NotFound"`) {
		t.Fatalf("GET /schema without a description: %d %s", rec.Code, rec.Body)
	}
}

func TestSchemaOptionsRejected(t *testing.T) {
	ok := CollectionInfo{Subject: SubjectSpace, Name: "n", Key: KeyString, Writers: WritersAuthority, Input: "I", State: "S"}
	tests := []struct {
		name string
		edit func(*CollectionInfo)
		srcs []SchemaSource
		want string
	}{
		{"no name", func(c *CollectionInfo) { c.Name = "" }, nil, "collection 0 has no name"},
		{"key rule", func(c *CollectionInfo) { c.Key = "uuid" }, nil, `collection n: key rule "uuid" is not string, cid or car-cid`},
		{"writers", func(c *CollectionInfo) { c.Writers = "anyone" }, nil, `collection n: writers "anyone" is not authority or service`},
		{"subject", func(c *CollectionInfo) { c.Subject = "user" }, nil, `collection n: subject "user" is not space or service`},
		{"no types", func(c *CollectionInfo) { c.State = "" }, nil, "collection n: input and state types are required"},
		{"unnamed source", func(*CollectionInfo) {}, []SchemaSource{{Text: "x"}}, "schema source 0 has no name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			_, err := schemaServer(t, []CollectionInfo{c}, tt.srcs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
