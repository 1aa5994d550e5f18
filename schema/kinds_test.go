package schema

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/bindnode"
	ipldschema "github.com/ipld/go-ipld-prime/schema"
)

const (
	cidA  = "bafkreign2qor2ukgtyphzqf54mz7u644p737weqw323viwkgyziqvbwx34"
	linkA = `{"/":"` + cidA + `"}`
)

func loadKinds(t testing.TB) *Schema {
	t.Helper()
	src, err := os.ReadFile("testdata/kinds.ipldsch")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(src)
	if err != nil {
		t.Fatalf("loading testdata/kinds.ipldsch: %v", err)
	}
	return s
}

func TestValidateKinds(t *testing.T) {
	s := loadKinds(t)
	tests := []struct {
		name, typ, value string
		wantErr          string // exact Error(), "" for valid
	}{
		// enums with string representation and renames
		{"enum renamed", "Note", `{"title":"t","color":"r"}`, ""},
		{"enum default", "Note", `{"title":"t","color":"Blue"}`, ""},
		{"enum type-level name", "Note", `{"title":"t","color":"Red"}`, `at /color (type Color): "Red" is not a member of the enum (expected one of "r", "g", "Blue")`},
		{"list element", "Note", `{"title":"t","color":"g","tags":["a",1]}`, "at /tags/1 (type String): expected a string, got int"},
		// scalars
		{"scalars", "Scalars", `{"b":true,"i":-1,"f":1.5,"s":"","y":{"/":{"bytes":"AQI"}},"l":` + linkA + `,"a":null}`, ""},
		{"int for float", "Scalars", `{"b":true,"i":-1,"f":1,"s":"","y":{"/":{"bytes":"AQI"}},"l":` + linkA + `,"a":1}`, ""},
		{"int for float beyond 2^53", "Scalars", `{"b":true,"i":-1,"f":9007199254740993,"s":"","y":{"/":{"bytes":"AQI"}},"l":` + linkA + `,"a":1}`, "at /f (type Float): expected a float, got the int 9007199254740993, which a float cannot hold exactly (write it as a float)"},
		{"string is not float", "Scalars", `{"b":true,"i":-1,"f":"1","s":"","y":{"/":{"bytes":"AQI"}},"l":` + linkA + `,"a":1}`, "at /f (type Float): expected a float, got string"},
		{"float is not int", "Scalars", `{"b":true,"i":1.0,"f":1.5,"s":"","y":{"/":{"bytes":"AQI"}},"l":` + linkA + `,"a":1}`, "at /i (type Int): expected an int, got float"},
		{"string is not bool", "Scalars", `{"b":"true","i":1,"f":1.5,"s":"","y":{"/":{"bytes":"AQI"}},"l":` + linkA + `,"a":1}`, "at /b (type Bool): expected a bool, got string"},
		{"string is not bytes", "Scalars", `{"b":true,"i":1,"f":1.5,"s":"","y":"AQI","l":` + linkA + `,"a":1}`, "at /y (type Bytes): expected bytes, got string"},
		{"map is not link", "Scalars", `{"b":true,"i":1,"f":1.5,"s":"","y":{"/":{"bytes":"AQI"}},"l":{},"a":1}`, "at /l (type Link): expected a link, got map"},
		// optional, nullable, renames, implicits
		{"fields minimal", "Fields", `{"req":"a","nul":null,"r":"x"}`, ""},
		{"fields full", "Fields", `{"req":"a","opt":"o","nul":"n","both":null,"r":"x","implicit":"y"}`, ""},
		{"nullable is not optional", "Fields", `{"req":"a","r":"x"}`, `at / (type Fields): missing required field "nul"`},
		{"optional is not nullable", "Fields", `{"req":"a","opt":null,"nul":null,"r":"x"}`, "at /opt (type String): null is not allowed (field opt is optional, not nullable: leave it out instead)"},
		{"required null", "Fields", `{"req":null,"nul":null,"r":"x"}`, "at /req (type String): null is not allowed (field req is not nullable)"},
		{"rename uses repr key only", "Fields", `{"req":"a","nul":null,"renamed":"x"}`, `at / (type Fields): unknown field "renamed"`},
		// enum with int representation
		{"int enum", "Priority", `9`, ""},
		{"int enum unknown", "Priority", `5`, "at / (type Priority): 5 is not a member of the enum (expected one of 1, 9)"},
		{"int enum name", "Priority", `"High"`, "at / (type Priority): expected an int, got string"},
		// tuple
		{"tuple", "Pair", `["a",1]`, ""},
		{"tuple optional", "Pair", `["a",1,true]`, ""},
		{"tuple short", "Pair", `["a"]`, "at / (type Pair): expected a list of 2 to 3 elements, got 1"},
		{"tuple long", "Pair", `["a",1,true,4]`, "at / (type Pair): expected a list of 2 to 3 elements, got 4"},
		{"tuple element", "Pair", `["a","1"]`, "at /1 (type Int): expected an int, got string"},
		{"tuple map", "Pair", `{"name":"a","count":1}`, "at / (type Pair): expected a list, got map"},
		// stringjoin
		{"stringjoin", "Version", `"1.2"`, ""},
		{"stringjoin too many", "Version", `"1.2.3"`, `at / (type Version): expected 2 parts joined by ".", got 3`},
		{"stringjoin too few", "Version", `"1"`, `at / (type Version): expected 2 parts joined by ".", got 1`},
		// listpairs
		{"listpairs", "Pairs", `[["a",1],["b","x"]]`, ""},
		{"listpairs optional", "Pairs", `[["a",1]]`, ""},
		{"listpairs missing", "Pairs", `[["b","x"]]`, `at / (type Pairs): missing required field "a"`},
		{"listpairs duplicate", "Pairs", `[["a",1],["a",2]]`, `at / (type Pairs): field "a" appears twice`},
		{"listpairs value", "Pairs", `[["a","1"]]`, "at /a (type Int): expected an int, got string"},
		{"listpairs unknown", "Pairs", `[["c",1]]`, `at / (type Pairs): unknown field "c"`},
		{"listpairs short pair", "Pairs", `[["a"]]`, "at /0 (type Pairs): expected a [key, value] pair, got a list of 1"},
		{"listpairs int key", "Pairs", `[[1,1]]`, "at /0/0 (type Pairs): expected a string key, got int"},
		// keyed union
		{"keyed ok", "Result", `{"ok":{"value":1}}`, ""},
		{"keyed error", "Result", `{"error":{"name":"E","message":"m"}}`, ""},
		{"keyed empty", "Result", `{}`, "at / (type Result): keyed union must have exactly one key, got 0"},
		{"keyed two keys", "Result", `{"ok":{"value":1},"error":{"name":"E","message":"m"}}`, "at / (type Result): keyed union must have exactly one key, got 2"},
		{"keyed unknown", "Result", `{"bogus":1}`, `at / (type Result): unknown union key "bogus" (expected one of "ok", "error")`},
		{"keyed member", "Result", `{"ok":{"value":1,"x":2}}`, `at /ok (type Success): unknown field "x"`},
		{"keyed member type name", "Result", `{"Success":{"value":1}}`, `at / (type Result): unknown union key "Success" (expected one of "ok", "error")`},
		// kinded union
		{"kinded string", "Mixed", `"s"`, ""},
		{"kinded int", "Mixed", `1`, ""},
		{"kinded map", "Mixed", `{"a":1}`, ""},
		{"kinded list", "Mixed", `[1,2]`, ""},
		{"kinded link", "Mixed", linkA, ""},
		{"kinded float", "Mixed", `1.5`, "at / (type Mixed): expected one of the kinds string, int, map, list, link, got float"},
		{"kinded null", "Mixed", `null`, "at / (type Mixed): expected one of the kinds string, int, map, list, link, got null"},
		{"kinded map member", "Mixed", `{"a":"x"}`, "at /a (type Int): expected an int, got string"},
		{"kinded list member", "Mixed", `[1,"x"]`, "at /1 (type Int): expected an int, got string"},
		// inline union with another discriminant key and renames
		{"inline circle", "Shape", `{"kind":"circle","radius":1.5}`, ""},
		{"inline square", "Shape", `{"s":2,"kind":"square"}`, ""},
		{"inline rename", "Shape", `{"kind":"square","side":2}`, `at / (type Square): unknown field "side"`},
		{"inline unknown", "Shape", `{"kind":"triangle"}`, `at /kind (type Shape): unknown kind "triangle" (expected one of "circle", "square")`},
		{"inline missing", "Shape", `{"radius":1.0}`, `at / (type Shape): missing discriminant key "kind"`},
		{"inline null discriminant", "Shape", `{"kind":null}`, "at /kind (type Shape): discriminant must be a string, got null"},
		{"inline member field", "Shape", `{"kind":"circle","radius":"big"}`, "at /radius (type Float): expected a float, got string"},
		// stringprefix union
		{"prefix v", "Prefixed", `"v1.2"`, ""},
		{"prefix p", "Prefixed", `"p:anything"`, ""},
		{"prefix none", "Prefixed", `"x"`, `at / (type Prefixed): "x" has none of the prefixes "v", "p:"`},
		{"prefix member", "Prefixed", `"v1"`, `at / (type Version): expected 2 parts joined by ".", got 1`},
		// recursion
		{"tree", "Tree", `{"name":"a","children":[{"name":"b","children":[]}]}`, ""},
		{"tree deep error", "Tree", `{"name":"a","children":[{"name":"b","children":[{"name":1,"children":[]}]}]}`, "at /children/0/children/0/name (type String): expected a string, got int"},
		// nullable map and list values, enum keys, nested lists
		{"nullables", "Nullables", `{"m":{"a":null,"b":1},"l":[null,true],"k":{"r":1,"Blue":2},"ll":[[1],[]]}`, ""},
		{"enum key", "Nullables", `{"m":{},"l":[],"k":{"Red":1},"ll":[]}`, `at /k/Red (type Color): "Red" is not a member of the enum (expected one of "r", "g", "Blue")`},
		{"nullable map value", "Nullables", `{"m":{"a":"x"},"l":[],"k":{},"ll":[]}`, "at /m/a (type Int): expected an int, got string"},
		{"nested list", "Nullables", `{"m":{},"l":[],"k":{},"ll":[[1,"x"]]}`, "at /ll/0/1 (type Int): expected an int, got string"},
		{"anonymous type names", "Nullables", `{"m":[],"l":[],"k":{},"ll":[]}`, "at /m (type {String:nullable Int}): expected a map, got list"},
		// typed links and Any
		{"typed link", "Ref", linkA, ""},
		{"typed link string", "Ref", `"` + cidA + `"`, "at / (type Ref): expected a link, got string"},
		{"any null", "Any", `null`, ""},
		{"any nested", "Any", `{"a":[1,null,{"b":` + linkA + `}]}`, ""},
		// inline union of an extension collection
		{"job finished", "JobStatus", `{"status":"finished","code":0}`, ""},
		{"job finished no code", "JobStatus", `{"status":"finished"}`, `at / (type JobFinished): missing required field "code"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := decodeDAGJSON([]byte(tt.value))
			if err != nil {
				t.Fatalf("decoding %s: %v", tt.value, err)
			}
			err = s.Validate(tt.typ, n)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("valid value rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("invalid value accepted, want %s", tt.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if err.Error() != tt.wantErr {
				t.Fatalf("error\n got: %s\nwant: %s", err, tt.wantErr)
			}
		})
	}
}

func TestValidateUnknownType(t *testing.T) {
	s := MustLoad()
	n, _ := decodeDAGJSON([]byte(`{}`))
	err := s.Validate("Nope", n)
	if !errors.Is(err, ErrUnknownType) || errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v", err)
	}
}

// nested returns a DAG-JSON value of depth levels of lists around 1.
func nested(depth int) string {
	return strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth)
}

func nestedTree(depth int) string {
	var b strings.Builder
	for range depth {
		b.WriteString(`{"name":"n","children":[`)
	}
	for range depth {
		b.WriteString(`]}`)
	}
	return b.String()
}

func TestValidateDepth(t *testing.T) {
	s := loadKinds(t)
	tests := []struct {
		name, typ, value string
		ok               bool
	}{
		{"any at limit", "Any", nested(MaxDepth), true},
		{"any beyond limit", "Any", nested(MaxDepth + 1), false},
		{"any far beyond", "Any", nested(10 * MaxDepth), false},
		// Each Tree level is a map and a list: two levels of nesting.
		{"tree within limit", "Tree", nestedTree(MaxDepth / 2), true},
		{"tree beyond limit", "Tree", nestedTree(MaxDepth/2 + 1), false},
		{"record value beyond", "RecordStatus", `{"status":"done","value":` + nested(MaxDepth) + `}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := decodeDAGJSON([]byte(tt.value))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Validate(tt.typ, n)
			if tt.ok {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !strings.Contains(ve.Message, "nested deeper than") {
				t.Fatalf("want a depth error, got %v", err)
			}
			if len(ve.Path) > MaxErrorPath {
				t.Fatalf("path is %d bytes, limit %d", len(ve.Path), MaxErrorPath)
			}
		})
	}
}

func TestErrorPath(t *testing.T) {
	s := loadKinds(t)
	tests := []struct {
		name, value, wantPath string
	}{
		{"slash and tilde", `{"a/b~c":"x"}`, "/a~1b~0c"},
		{"control character", `{"a\nb":"x"}`, `/a\nb`},
		{"long key", `{"` + strings.Repeat("k", 2*MaxErrorPath) + `":"x"}`, "…" + strings.Repeat("k", MaxErrorPath-len("…"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := decodeDAGJSON([]byte(tt.value))
			if err != nil {
				t.Fatal(err)
			}
			var ve *ValidationError
			if err := s.Validate("Fields2", n); !errors.As(err, &ve) {
				t.Fatalf("want *ValidationError, got %v", err)
			}
			if ve.Path != tt.wantPath {
				t.Fatalf("path\n got: %q\nwant: %q", ve.Path, tt.wantPath)
			}
			if len(ve.Path) > MaxErrorPath {
				t.Fatalf("path is %d bytes, limit %d", len(ve.Path), MaxErrorPath)
			}
		})
	}
}

func TestValidateAbsent(t *testing.T) {
	s := MustLoad()
	for _, n := range []datamodel.Node{nil, datamodel.Absent} {
		var ve *ValidationError
		if err := s.Validate("StoreInput", n); !errors.As(err, &ve) || ve.Message != "value is absent" || ve.Path != "/" {
			t.Errorf("Validate(%v) = %v, want an absent-value error", n, err)
		}
	}
	// Any accepts null but not an absent value.
	if err := s.Validate("Any", datamodel.Null); err != nil {
		t.Errorf("Any rejected null: %v", err)
	}
	if err := s.Validate("Any", datamodel.Absent); err == nil {
		t.Error("Any accepted an absent value")
	}
}

func BenchmarkValidate(b *testing.B) {
	s := MustLoad()
	for _, bc := range []struct{ typ, file string }{
		{"StoreStatus", "testdata/valid/StoreStatus/pending.json"},
		{"UploadInput", "testdata/valid/UploadInput/with_shards.json"},
		{"Space", "testdata/valid/Space/one_entry.json"},
	} {
		data, err := os.ReadFile(bc.file)
		if err != nil {
			b.Fatal(err)
		}
		n, err := decodeDAGJSON(data)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.typ, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Validate(bc.typ, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestValidateTypedNode(t *testing.T) {
	s := MustLoad()
	proto := bindnode.Prototype(nil, s.TypeSystem().TypeByName("StoreInput"))
	nb := proto.Representation().NewBuilder()
	if err := dagjson.Decode(nb, strings.NewReader(`{"link":`+linkA+`,"size":5}`)); err != nil {
		t.Fatal(err)
	}
	typed := nb.Build().(ipldschema.TypedNode)
	// Both the type-level node and its representation validate.
	for _, n := range []datamodel.Node{typed, typed.Representation()} {
		if err := s.Validate("StoreInput", n); err != nil {
			t.Fatalf("%T: %v", n, err)
		}
	}
	if err := s.Validate("UploadInput", typed); err == nil {
		t.Fatal("StoreInput value validated as UploadInput")
	}
}

func TestQuoteLimit(t *testing.T) {
	s := MustLoad()
	long := strings.Repeat("é", MaxErrorValue)
	n, err := decodeDAGJSON([]byte(`{"link":` + linkA + `,"size":1,"` + long + `":1}`))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Validate("StoreInput", n)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v", err)
	}
	want := `unknown field "` + strings.Repeat("é", MaxErrorValue/2) + `"…`
	if ve.Message != want {
		t.Fatalf("message\n got: %s\nwant: %s", ve.Message, want)
	}
}

func TestNormalizeFloats(t *testing.T) {
	s := loadKinds(t)
	const floats = `{"f":10.0,"l":[1.5,2.0,-3.0],"m":{"a":0.0,"b":null},"t":[1.0,2.5],"p":[["w",4.0]],"k":{"n":5.0},"s":{"kind":"circle","radius":1.0},"a":7}`
	tests := []struct {
		name, value string
		same        bool // Normalize returns the value itself
	}{
		{"floats", floats, true},
		{"ints everywhere", `{"f":10,"l":[1.5,2,-3],"m":{"a":0,"b":null},"t":[1,2.5],"p":[["w",4]],"k":{"n":5},"s":{"kind":"circle","radius":1},"a":7}`, false},
		{"one int", `{"f":10,"l":[1.5,2.0,-3.0],"m":{"a":0.0,"b":null},"t":[1.0,2.5],"p":[["w",4.0]],"k":{"n":5.0},"s":{"kind":"circle","radius":1.0},"a":7}`, false},
	}
	want := encodeCBOR(t, mustDecode(t, floats))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustDecode(t, tt.value)
			if tt.name == "one int" {
				if f, _ := n.LookupByString("f"); f.Kind() != datamodel.Kind_Int {
					t.Fatal("DAG-JSON 10 did not decode as an int")
				}
			}
			got, err := s.Normalize("Floats", n)
			if err != nil {
				t.Fatal(err)
			}
			if tt.same != (got == n) {
				t.Errorf("Normalize returned the value itself: %t, want %t", got == n, tt.same)
			}
			if b := encodeCBOR(t, got); !bytes.Equal(b, want) {
				t.Errorf("normalized value encodes differently from the floats:\n got %x\nwant %x", b, want)
			}
			// The Any field keeps its Int: Any values are not the schema's to change.
			if a, _ := got.LookupByString("a"); a.Kind() != datamodel.Kind_Int {
				t.Errorf("Any field turned into %s", a.Kind())
			}
			if err := s.Validate("Floats", got); err != nil {
				t.Errorf("normalized value does not validate: %v", err)
			}
		})
	}
	if _, err := s.Normalize("Floats", mustDecode(t, `{"f":"x"}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Normalize of an invalid value: %v", err)
	}
	if _, err := s.Normalize("Nope", mustDecode(t, `1`)); !errors.Is(err, ErrUnknownType) {
		t.Errorf("Normalize of an unknown type: %v", err)
	}
}

func mustDecode(t *testing.T, s string) datamodel.Node {
	t.Helper()
	n, err := decodeDAGJSON([]byte(s))
	if err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return n
}

func encodeCBOR(t *testing.T, n datamodel.Node) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := dagcbor.Encode(n, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// floatList returns a {"xs": [0, 0, …]} value of n Ints for a [Float] field.
func floatList(t testing.TB, n int) (*Schema, datamodel.Node) {
	t.Helper()
	s, err := Load([]byte("type Space struct {\n  fl {String:FL}\n}\ntype FL struct {\n  xs [Float]\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := decodeDAGJSON([]byte(`{"xs": [` + strings.TrimSuffix(strings.Repeat("0,", n), ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// TestNormalizeLinear checks that Normalize's work grows with the value, not with the
// value times the number of Ints it converts (a transform per Int copied the list once
// per Int: 32,000 Ints took 20 s). Allocations are counted, not time.
func TestNormalizeLinear(t *testing.T) {
	allocs := func(n int) float64 {
		s, v := floatList(t, n)
		return testing.AllocsPerRun(3, func() {
			out, err := s.Normalize("FL", v)
			if err != nil {
				t.Fatal(err)
			}
			if xs, _ := out.LookupByString("xs"); xs.Length() != int64(n) {
				t.Fatal("lost elements")
			}
		})
	}
	small, large := allocs(1000), allocs(8000)
	if large > 12*small {
		t.Fatalf("Normalize of 8,000 ints made %.0f allocations, of 1,000 %.0f: not linear", large, small)
	}
	s, v := floatList(t, 3)
	out, err := s.Normalize("FL", v)
	if err != nil {
		t.Fatal(err)
	}
	xs, _ := out.LookupByString("xs")
	for it := xs.ListIterator(); !it.Done(); {
		_, x, _ := it.Next()
		if x.Kind() != datamodel.Kind_Float {
			t.Fatalf("element is a %s, want a float", x.Kind())
		}
	}
}

func BenchmarkNormalize32k(b *testing.B) {
	s, v := floatList(b, 32000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Normalize("FL", v); err != nil {
			b.Fatal(err)
		}
	}
}
