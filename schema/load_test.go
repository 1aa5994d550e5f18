package schema

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

const noteExt = `
type Space struct {
  notes {String:Note}
}

type Note struct {
  title String
  location optional Location
}
`

func TestLoadExtension(t *testing.T) {
	s, err := Load([]byte(noteExt), []byte(`
type Space struct {
  jobs {String:JobEntry}
}
type JobEntry struct {
  input String
  state JobStatus
}
type JobStatus union {
  | JobDone "done"
} representation inline { discriminantKey "status" }
type JobDone struct {}
`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range s.Collections(SpaceSubject) {
		names = append(names, c.Name)
	}
	if want := []string{"store", "upload", "usage", "metrics", "notes", "jobs"}; !slices.Equal(names, want) {
		t.Fatalf("space collections %v, want %v", names, want)
	}
	notes, ok := s.Collection(SpaceSubject, "notes")
	if !ok || !notes.Generic || notes.Input != "Note" || notes.State != RecordStatusType ||
		!slices.Equal(notes.Statuses, []string{StatusDone, StatusRemoved}) || notes.Entry != "Note" {
		t.Fatalf("notes: %+v", notes)
	}
	jobs, ok := s.Collection(SpaceSubject, "jobs")
	if !ok || jobs.Generic || jobs.Input != "String" || jobs.State != "JobStatus" || !jobs.HasStatus("done") || jobs.HasStatus("removed") {
		t.Fatalf("jobs: %+v", jobs)
	}
	if _, ok := s.Collection(ServiceSubject, "notes"); ok {
		t.Fatal("extension collection appears under the service")
	}
	if got := len(s.Collections(ServiceSubject)); got != 5 {
		t.Fatalf("service has %d collections, want 5", got)
	}
	// The system schema is not changed by loading extensions.
	if _, ok := MustLoad().Collection(SpaceSubject, "notes"); ok {
		t.Fatal("extension leaked into a later Load")
	}
	// Collections returns copies.
	cols := s.Collections(SpaceSubject)
	cols[0].Statuses[0] = "mutated"
	if c, _ := s.Collection(SpaceSubject, cols[0].Name); c.Statuses[0] == "mutated" {
		t.Fatal("Collections shares its Statuses slice")
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		extra []string
		want  string // substring of the error
	}{
		{"parse error", []string{`type Space strukt {}`}, "extension 0:1: syntax error: unknown type keyword: \"strukt\""},
		{"advanced layout", []string{`advanced Foo`}, "extension 0:1: advanced data layouts are not supported"},
		{"redefine system type", []string{`type StoreInput struct { x Int }`}, "extension 0:1: type StoreInput redefines a system type"},
		{"redefine prelude", []string{`type String string`}, "extension 0:1: type String redefines a prelude type"},
		{"reserved name", []string{`type Map__String__Int {String:Int}`}, `extension 0:1: type name "Map__String__Int": names containing "__" are reserved`},
		{"extend service", []string{`type Service struct { x {String:Int} }`}, "extension 0:1: type Service cannot be extended"},
		{"built-in collection", []string{`type Space struct { store {String:String} }`}, "extension 0:1: collection store collides with the built-in collection"},
		{"collection twice", []string{noteExt, `type Space struct { notes {String:String} }`}, "extension 1:1: collection notes is already added by extension 0"},
		{"type twice across extensions", []string{noteExt, `type Note struct { x Int }`}, "extension 1:1: type Note is already defined by extension 0"},
		{"type twice in one file", []string{`type A int
type A string`}, "extension 0:2: type A is defined twice"},
		{"field twice", []string{`type A struct { x Int
x String }`}, "extension 0:2: type A: field x is defined twice"},
		{"missing type", []string{`type Space struct { notes {String:Nope} }`}, "extension 0:1: type Space field notes: unknown type Nope"},
		{"collection not a map", []string{`type Space struct { notes [String] }`}, "extension 0:1: space collection notes: type must be a map {String:Entry} with non-nullable values, got [String]"},
		{"collection nullable values", []string{`type Space struct { notes {String:nullable Bool} }`}, "with non-nullable values"},
		{"collection optional", []string{`type Space struct { notes optional {String:String} }`}, "collection notes must not be optional or nullable"},
		{"collection renamed", []string{`type Space struct { notes {String:String} (rename "n") }`}, "type Space must use the default map representation"},
		{"space not a struct", []string{`type Space {String:String}`}, "type Space must be a struct"},
		{"space empty", []string{`type Space struct {}`}, "type Space adds no collections"},
		{"state not inline", []string{`type Space struct { jobs {String:E} }
type E struct { input String
state String }`}, `extension 0:1: space collection jobs: state type String must be an inline union with discriminantKey "status"`},
		{"state other discriminant", []string{`type Space struct { jobs {String:E} }
type E struct { input String
state S }
type S union { | D "done" } representation inline { discriminantKey "kind" }
type D struct {}`}, `state type S must be an inline union with discriminantKey "status"`},
		{"inline member not struct", []string{`type U union { | String "s" } representation inline { discriminantKey "k" }`}, "extension 0:1: type U: inline union member String must be a struct"},
		{"inline member has discriminant", []string{`type U union { | M "m" } representation inline { discriminantKey "k" }
type M struct { k String }`}, `extension 0:1: type U: member M has a field with the discriminant key "k"`},
		{"inline member tuple", []string{`type U union { | M "m" } representation inline { discriminantKey "k" }
type M struct { a String } representation tuple`}, "inline union member M must have map representation"},
		{"inline link member", []string{`type U union { | &Any "x" } representation inline { discriminantKey "k" }`}, "extension 0:1: type U: go-ipld-prime's schema parser cannot read this definition"},
		{"kinded bad kind", []string{`type U union { | String foo } representation kinded`}, `type U: "foo" is not a data model kind`},
		{"kinded wrong kind", []string{`type U union { | String int } representation kinded`}, "extension 0:1: type U: kinded union member String is not listed under its representation kind"},
		{"copy type", []string{`type A = String`}, "type A: copy types (type A = B) are not supported"},
		{"map int key", []string{`type M {Int:String}`}, "map key type Int must be a string type"},
		{"anonymous nullable collision", []string{`type A struct { a [String]
b [nullable String] }`}, "extension 0:2: type A: anonymous types List__String with and without nullable values"},
		{"anonymous collision with system", []string{`type A struct { a [nullable String] }`}, "extension 0:1: type A: anonymous types List__String with and without nullable values"},
		{"tuple optional first", []string{`type T struct { a optional Int
b Int } representation tuple`}, "extension 0:2: type T: in a tuple, optional fields must come last (field b)"},
		{"duplicate field key", []string{`type T struct { a Int (rename "b")
b Int }`}, `fields a and b have the same key "b"`},
		{"int enum without value", []string{`type E enum { | A } representation int`}, "extension 0:1: type E: go-ipld-prime's schema parser cannot read this definition"},
		{"stringjoin empty", []string{`type T struct { a String } representation stringjoin { join "" }`}, "stringjoin has empty join value"},
		{"bad collection name", []string{`type Space struct { _x {String:String} }`}, `collection name "_x" must be a letter`},
		{"long collection name", []string{`type Space struct { ` + strings.Repeat("n", MaxCollectionName+1) + ` {String:String} }`}, "is longer than 64 bytes"},
		{"too large", []string{strings.Repeat(" ", MaxSourceSize+1)}, "extension 0: source is"},
		{"unknown struct repr", []string{`type T struct { a String } representation bogus`}, `extension 0:1: struct T: representation "bogus" is not supported`},
		{"second extension bad", []string{noteExt, `type Space struct { store2 {String:Bogus} }`}, "extension 1:1: type Space field store2: unknown type Bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := make([][]byte, len(tt.extra))
			for i, e := range tt.extra {
				extra[i] = []byte(e)
			}
			s, err := Load(extra...)
			if err == nil {
				t.Fatalf("loaded %+v, want error containing %q", s.Collections(SpaceSubject), tt.want)
			}
			if !errors.Is(err, ErrSchema) {
				t.Fatalf("error does not wrap ErrSchema: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error\n got: %v\nwant substring: %s", err, tt.want)
			}
		})
	}
}

func TestMustLoadPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MustLoad did not panic on a bad extension")
		}
	}()
	MustLoad([]byte(`type StoreInput int`))
}

func TestStatus(t *testing.T) {
	s := MustLoad()
	tests := []struct {
		typ, value, want string
		wantErr          error
	}{
		{"StoreStatus", `{"status":"pending","url":"u","headers":{},"expires":1}`, "pending", nil},
		{"TaskStatus", `{"status":"failed","attempts":3,"error":"e"}`, "failed", nil},
		{"StoreStatus", `{"status":"pending"}`, "", ErrInvalid},
		{"StoreInput", `{}`, "", ErrUnknownType},
	}
	for _, tt := range tests {
		n, err := decodeDAGJSON([]byte(tt.value))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Status(tt.typ, n)
		if !errors.Is(err, tt.wantErr) || got != tt.want {
			t.Errorf("Status(%s, %s) = %q, %v; want %q, %v", tt.typ, tt.value, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestSubjectKind(t *testing.T) {
	for k, want := range map[SubjectKind][2]string{
		SpaceSubject:   {"space", SpaceType},
		ServiceSubject: {"service", ServiceType},
		SubjectKind(9): {"SubjectKind(9)", ""},
	} {
		if k.String() != want[0] || k.TypeName() != want[1] {
			t.Errorf("%d: %q %q, want %q", int(k), k.String(), k.TypeName(), want)
		}
	}
	if s := MustLoad(); s.Collections(SubjectKind(9)) != nil && len(s.Collections(SubjectKind(9))) != 0 {
		t.Error("unknown subject kind has collections")
	}
}

func TestSystemSource(t *testing.T) {
	src := SystemSource()
	if !strings.Contains(string(src), "type Space struct") {
		t.Fatal("system source lacks Space")
	}
	src[0] = 'X'
	if SystemSource()[0] == 'X' {
		t.Fatal("SystemSource returns the embedded slice itself")
	}
}

func TestLoadSourcesNames(t *testing.T) {
	a := Source{Name: "a.ipldsch", Text: []byte(noteExt)}
	b := Source{Name: "b.ipldsch", Text: []byte("type Space struct {\n  jobs {String:String}\n  notes {String:String}\n}\n")}
	_, err := LoadSources(a, b)
	var le *LoadError
	if !errors.As(err, &le) || le.Source != "b.ipldsch" || le.Line != 3 {
		t.Fatalf("error %v (%+v), want one at b.ipldsch:3", err, le)
	}
	if want := "b.ipldsch:3: collection notes is already added by a.ipldsch"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	// Types of the system schema are placed in it.
	if _, err := LoadSources(Source{Name: "c.ipldsch", Text: []byte("type Space struct {\n  x {String:X}\n}\ntype X struct {\n  a Int\n}\ntype StoreInput int\n")}); err == nil || err.Error() != "c.ipldsch:7: type StoreInput redefines a system type" {
		t.Fatalf("error %v", err)
	}

	s, err := LoadSources(a, Source{Text: []byte("type Space struct {\n  jobs {String:String}\n}\n")})
	if err != nil {
		t.Fatal(err)
	}
	srcs := s.Sources()
	if len(srcs) != 3 || srcs[0].Name != SystemSourceName || !bytes.Equal(srcs[0].Text, SystemSource()) ||
		srcs[1].Name != "a.ipldsch" || string(srcs[1].Text) != noteExt || srcs[2].Name != "extension 1" {
		t.Fatalf("sources %+v", srcs)
	}
	srcs[1].Text[0] = 'X'
	if s.Sources()[1].Text[0] == 'X' {
		t.Fatal("Sources shares its text")
	}
}
