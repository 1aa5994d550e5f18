package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/ipld/go-ipld-prime/datamodel"
)

func TestParseSelectorForms(t *testing.T) {
	good := []string{
		".", ".foo", ".foo_bar9", "._x", ".a.b.c", `.["foo"]`, `.["with space"]`, `.["quote\"d"]`,
		`.["\u00e9"]`, `.[""]`, ".[]", ".[0]", ".[-1]", ".[1:2]", ".[1:]", ".[:2]", ".[-2:]", ".[:-1]",
		".[:]", ".foo?", ".foo??", ".[]?", ".[0]?", ".a[0]", ".a.[0]", ".a[0].b[1:][]", ".a?.b?[-1]?",
		".[][]", `.a["b"]`, ".[007]",
	}
	for _, s := range good {
		sel, err := ParseSelector(s)
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		if sel.String() != s {
			t.Errorf("%q: String() = %q", s, sel.String())
		}
	}
	if (Selector{}).String() != "." || !(Selector{}).IsIdentity() {
		t.Error("the zero Selector is not the identity")
	}
}

func TestParseSelectorErrors(t *testing.T) {
	tests := []struct{ sel, want string }{
		{"", "empty selector"},
		{"foo", "offset 0: a selector must start with \".\""},
		{"..", "offset 0: recursive descent"},
		{".a..b", "offset 2: recursive descent"},
		{".a.", "offset 2: trailing \".\""},
		{".?", "offset 1: expected a field name"},
		{".1a", "offset 1: expected a field name or \"[\" after \".\", found \"1\""},
		{".a-b", "offset 2: unexpected \"-\""},
		{".a b", "offset 2: unexpected \" \""},
		{".a ", "offset 2: unexpected \" \""},
		{".é", "offset 1: expected a field name or \"[\" after \".\", found \"é\""},
		{".[", "offset 1: unterminated \"[\""},
		{".[0", "offset 1: unterminated \"[\""},
		{".[1:", "offset 1: expected \"]\" to close the slice"},
		{".[1:2", "offset 1: expected \"]\" to close the slice"},
		{".[1:2:3]", "offset 1: expected \"]\" to close the slice"},
		{".[a]", "offset 1: expected an index, a slice, a quoted key"},
		{".[-]", "offset 1: \"-\" without digits"},
		{".[+1]", "offset 1: expected an index"},
		{".[1.5]", "offset 1: unexpected \".\" inside"},
		{".[ 1]", "offset 1: expected an index"},
		{".[99999999999999999999]", "offset 1: index 99999999999999999999 out of range"},
		{`.["foo]`, "offset 1: unterminated quoted key"},
		{`.["foo"`, "offset 1: expected \"]\" after quoted key"},
		{`.["a\x"]`, "offset 1: bad quoted key"},
		{`.['a']`, "offset 1: expected an index"},
		{".a[0]x", "offset 5: unexpected \"x\""},
		{"." + strings.Repeat("a", MaxSelectorLength), "bytes long, the limit is"},
	}
	for _, tt := range tests {
		_, err := ParseSelector(tt.sel)
		if err == nil {
			t.Errorf("%q parsed", tt.sel)
			continue
		}
		if !errors.Is(err, ErrInvalidSelector) {
			t.Errorf("%q: %v does not wrap ErrInvalidSelector", tt.sel, err)
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %q does not contain %q", tt.sel, err, tt.want)
		}
	}
}

// selectCases: input and expected output are DAG-JSON; want "FAIL" means
// the selector must not resolve.
var selectCases = []struct {
	name, sel, input, want string
}{
	{"identity", ".", `{"x":1}`, `{"x":1}`},
	{"identity null", ".", `null`, `null`},
	{"field", ".x", `{"x":1}`, `1`},
	{"nested field", ".a.b", `{"a":{"b":[true]}}`, `[true]`},
	{"quoted key", `.["x"]`, `{"x":1}`, `1`},
	{"quoted key with space", `.["a b"]`, `{"a b":"y"}`, `"y"`},
	{"quoted key with dot", `.["a.b"]`, `{"a.b":2,"a":{"b":3}}`, `2`},
	{"quoted empty key", `.[""]`, `{"":5}`, `5`},
	{"field null value", ".x", `{"x":null}`, `null`},
	{"missing key", ".x", `{}`, "FAIL"},
	{"field of null", ".x", `null`, "FAIL"},
	{"field of list", ".x", `[]`, "FAIL"},
	{"field of string", ".length", `"abc"`, "FAIL"},
	{"length of list", ".length", `[1,2]`, "FAIL"},
	{"optional missing key", ".x?", `{}`, `null`},
	{"optional field of null", ".x?", `null`, `null`},
	{"optional field of list", ".x?", `[]`, `null`},
	{"optional quoted key", `.["x"]?`, `{}`, `null`},
	{"optional length", ".length?", `[1,2]`, `null`},
	{"optional present", ".x?", `{"x":7}`, `7`},
	{"repeated optional", ".x??", `{}`, `null`},
	{"optional stops resolution", ".x?.y", `{}`, `null`},
	{"non-optional after present optional", ".x?.y", `{"x":{}}`, "FAIL"},
	{"index", ".[0]", `[1,2]`, `1`},
	{"negative index", ".[-1]", `[1,2]`, `2`},
	{"negative index first", ".[-2]", `[1,2]`, `1`},
	{"index out of range", ".[4]", `[0,1]`, "FAIL"},
	{"negative out of range", ".[-3]", `[0,1]`, "FAIL"},
	{"optional index", ".[4]?", `[0,1]`, `null`},
	{"index of map", ".[0]", `{"0":1}`, "FAIL"},
	{"index of null", ".[0]", `null`, "FAIL"},
	{"string index", ".[0]", `"Hi"`, `"H"`},
	{"string negative index", ".[-1]", `"Hi"`, `"i"`},
	{"string index by character", ".[1]", `"héllo"`, `"é"`},
	{"bytes index", ".[0]", `{"/":{"bytes":"AAE"}}`, `0`},
	{"bytes negative index", ".[-1]", `{"/":{"bytes":"AAH/"}}`, `255`},
	{"bytes index out of range", ".[3]", `{"/":{"bytes":"AAE"}}`, "FAIL"},
	{"slice", ".[0:2]", `[0,1,2]`, `[0,1]`},
	{"slice from", ".[1:]", `[0,1,2]`, `[1,2]`},
	{"slice to", ".[:2]", `[0,1,2]`, `[0,1]`},
	{"slice negative from", ".[-2:]", `[0,1,2]`, `[1,2]`},
	{"slice negative to", ".[:-1]", `[0,1,2]`, `[0,1]`},
	{"slice both negative", ".[-3:-1]", `[0,1,2]`, `[0,1]`},
	{"slice whole", ".[:]", `[0,1,2]`, `[0,1,2]`},
	{"slice clamped", ".[1:10]", `[0,1,2]`, `[1,2]`},
	{"slice clamped negative", ".[-10:1]", `[0,1,2]`, `[0]`},
	{"slice empty", ".[2:1]", `[0,1,2]`, `[]`},
	{"slice past end", ".[5:]", `[0,1,2]`, `[]`},
	{"string slice", ".[0:2]", `"hello"`, `"he"`},
	{"string slice by character", ".[1:3]", `"héllo"`, `"él"`},
	{"string slice negative", ".[-3:]", `"hello"`, `"llo"`},
	{"bytes slice", ".[1:]", `{"/":{"bytes":"AAEC"}}`, `{"/":{"bytes":"AQI"}}`},
	{"slice of map", ".[0:1]", `{"a":1}`, "FAIL"},
	{"slice of int", ".[0:1]", `5`, "FAIL"},
	{"iterate list", ".[]", `[1,2]`, `[1,2]`},
	{"iterate map values", ".[]", `{"a":1,"b":2}`, `[1,2]`},
	{"iterate empty", ".[]", `[]`, `[]`},
	{"iterate null", ".[]", `null`, "FAIL"},
	{"optional iterate null", ".[]?", `null`, `null`},
	{"iterate string", ".[]", `"ab"`, "FAIL"},
	{"iterate then field", ".[].b", `[{"b":1},{"b":2}]`, `[1,2]`},
	{"iterate then missing field", ".[].b", `[{"b":1},{"c":2}]`, "FAIL"},
	{"iterate then optional field", ".[].b?", `[{"b":1},{"c":2},3]`, `[1]`},
	{"nested iterator", ".[][]", `[[1],[2,3]]`, `[1,2,3]`},
	{"nested iterator fails", ".[][]", `[[1],2,[3]]`, "FAIL"},
	{"optional nested iterator", ".[][]?", `[[1],2,[3]]`, `[1,3]`},
	{"iterate then index", ".[][0]", `[[1,2],[3]]`, `[1,3]`},
	{"field iterate field", ".a[].b", `{"a":{"x":{"b":1},"y":{"b":2}}}`, `[1,2]`},
	{"mixed chain", `.a[1]["k"][-1:]`, `{"a":[0,{"k":[1,2,3]}]}`, `[3]`},
	{"dotted bracket", ".a.[0]", `{"a":[9]}`, `9`},
	{"link is a leaf", ".l.x", `{"l":{"/":"bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"}}`, "FAIL"},
}

func TestSelect(t *testing.T) {
	for _, tt := range selectCases {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := ParseSelector(tt.sel)
			if err != nil {
				t.Fatal(err)
			}
			got, err := sel.Select(decodeJSON(t, []byte(tt.input)))
			if tt.want == "FAIL" {
				if err == nil {
					t.Fatalf("%s on %s resolved to %s", tt.sel, tt.input, encodeJSON(t, got))
				}
				if !errors.Is(err, ErrUnresolved) {
					t.Fatalf("error %v does not wrap ErrUnresolved", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s on %s: %v", tt.sel, tt.input, err)
			}
			if g, w := encodeJSON(t, got), encodeJSON(t, decodeJSON(t, []byte(tt.want))); g != w {
				t.Fatalf("%s on %s = %s, want %s", tt.sel, tt.input, g, w)
			}
		})
	}
}

func TestSelectNil(t *testing.T) {
	got, err := MustParseSelector(".").Select(nil)
	if err != nil || got.Kind() != datamodel.Kind_Null {
		t.Fatalf("identity of nil = %v, %v", got, err)
	}
	got, err = MustParseSelector(".a?").Select(nil)
	if err != nil || got.Kind() != datamodel.Kind_Null {
		t.Fatalf(".a? of nil = %v, %v", got, err)
	}
	if _, err := MustParseSelector(".a").Select(nil); err == nil {
		t.Fatal(".a of nil resolved")
	}
}
