package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/collection"
)

// stub satisfies the required interfaces of Options; GET /schema calls none of them.
type stub struct {
	Runner
	Store
	Archive
}

func schemaServer(t *testing.T, d *collection.Description) (*Server, error) {
	t.Helper()
	return New(Options{Service: mustKey(t), Runner: stub{}, Store: stub{}, Archive: stub{}, Schema: d})
}

func TestGetSchema(t *testing.T) {
	store := collection.Info{Name: "store", Key: "car-cid", KeyField: "link", Writers: "authority",
		Input: "StoreInput", State: "StoreStatus", Statuses: []string{"queued", "done"}, Machine: true}
	pins := collection.Info{Name: "pins", Key: "string", Writers: "authority",
		Input: "Pin", State: "RecordStatus", Statuses: []string{"done", "removed"}, SchemaOnly: true}
	task := collection.Info{Name: "task", Key: "cid", Writers: "service",
		Input: "TaskInput", State: "TaskStatus"}
	srcs := []collection.Source{{Name: "system.ipldsch", Text: "type Space struct {}\n"}, {Name: "pins.ipldsch", Text: "type Pin struct {}\n"}}
	var d collection.Description
	d.Collections.Space = []collection.Info{pins, store}
	d.Collections.Service = []collection.Info{task}
	d.Sources = srcs
	s, err := schemaServer(t, &d)
	if err != nil {
		t.Fatal(err)
	}
	if d.Collections.Service[0].Statuses != nil {
		t.Fatal("New changed the caller's description")
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/schema", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("ETag") == "" {
		t.Fatalf("GET /schema: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	var doc collection.Description
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	task.Statuses = []string{}
	if !reflect.DeepEqual(doc.Collections.Space, []collection.Info{pins, store}) || !reflect.DeepEqual(doc.Collections.Service, []collection.Info{task}) ||
		!reflect.DeepEqual(doc.Sources, srcs) {
		t.Fatalf("document %+v", doc)
	}
	for _, want := range []string{`"key":"car-cid"`, `"keyField":"link"`, `"writers":"service"`, `"schemaOnly":true`, `"machine":true`, `"statuses":[]`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("body lacks %s: %s", want, rec.Body)
		}
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
	s, err := schemaServer(t, nil)
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
	ok := collection.Info{Name: "n", Key: "string", Writers: "authority", Input: "I", State: "S"}
	tests := []struct {
		name string
		edit func(*collection.Info)
		srcs []collection.Source
		want string
	}{
		{"no name", func(c *collection.Info) { c.Name = "" }, nil, "space collection 0: collection is empty"},
		{"bad name", func(c *collection.Info) { c.Name = "9" }, nil, "must start with a letter"},
		{"key rule", func(c *collection.Info) { c.Key = "uuid" }, nil, `space collection n: key rule "uuid" is not string, cid or car-cid`},
		{"writers", func(c *collection.Info) { c.Writers = "anyone" }, nil, `space collection n: writers "anyone" is not authority or service`},
		{"no types", func(c *collection.Info) { c.State = "" }, nil, "space collection n: input and state types are required"},
		{"unnamed source", func(*collection.Info) {}, []collection.Source{{Text: "x"}}, "schema source 0 has no name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			var d collection.Description
			d.Collections.Space = []collection.Info{c}
			d.Sources = tt.srcs
			_, err := schemaServer(t, &d)
			if !errors.Is(err, collection.ErrInvalidSpec) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
