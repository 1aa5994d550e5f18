package policy

import (
	"bytes"
	"math"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

var matchCases = []struct {
	name   string
	args   string
	policy string
	want   bool
}{
	// Equality.
	{"int equals int", `{"a":1}`, `[["==", ".a", 1]]`, true},
	{"int equals float (go-ucan says no)", `{"a":1}`, `[["==", ".a", 1.0]]`, true},
	{"float equals int", `{"a":2.0}`, `[["==", ".a", 2]]`, true},
	{"int differs from fraction", `{"a":1}`, `[["==", ".a", 1.5]]`, false},
	{"negative zero", `{"a":-0.0}`, `[["==", ".a", 0]]`, true},
	{"int not string", `{"a":1}`, `[["==", ".a", "1"]]`, false},
	{"null equals null", `{"a":null}`, `[["==", ".a", null]]`, true},
	{"false is not null", `{"a":false}`, `[["==", ".a", null]]`, false},
	{"bool", `{"a":true}`, `[["==", ".a", true]]`, true},
	{"string", `{"a":"x"}`, `[["==", ".a", "x"]]`, true},
	{"string case", `{"a":"x"}`, `[["==", ".a", "X"]]`, false},
	{"deep list", `{"a":[1,[2,{"b":3.0}]]}`, `[["==", ".a", [1,[2,{"b":3}]]]]`, true},
	{"list order matters", `{"a":[1,2]}`, `[["==", ".a", [2,1]]]`, false},
	{"list length", `{"a":[1,2]}`, `[["==", ".a", [1,2,3]]]`, false},
	{"map order does not matter", `{"a":{"x":1,"y":2}}`, `[["==", ".a", {"y":2,"x":1}]]`, true},
	{"map extra key", `{"a":{"x":1,"y":2}}`, `[["==", ".a", {"x":1}]]`, false},
	{"map different key", `{"a":{"x":1}}`, `[["==", ".a", {"y":1}]]`, false},
	{"bytes equal", `{"a":{"/":{"bytes":"AAEC"}}}`, `[["==", ".a", {"/":{"bytes":"AAEC"}}]]`, true},
	{"bytes differ", `{"a":{"/":{"bytes":"AAEC"}}}`, `[["==", ".a", {"/":{"bytes":"AAED"}}]]`, false},
	{"bytes not string", `{"a":{"/":{"bytes":"YQ"}}}`, `[["==", ".a", "a"]]`, false},
	{"link equal", `{"l":{"/":"bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"}}`, `[["==", ".l", {"/":"bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"}]]`, true},
	{"link differs", `{"l":{"/":"bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"}}`, `[["==", ".l", {"/":"bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"}]]`, false},
	{"link not string", `{"l":{"/":"bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"}}`, `[["==", ".l", "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"]]`, false},
	{"big ints", `{"a":9007199254740993}`, `[["==", ".a", 9007199254740993]]`, true},
	{"big int vs nearest float", `{"a":9007199254740993}`, `[["==", ".a", 9007199254740992.0]]`, false},
	{"big int ordering past 2^53", `{"a":9007199254740993}`, `[[">", ".a", 9007199254740992.0]]`, true},
	{"missing key is false", `{}`, `[["==", ".a", null]]`, false},
	{"not-equal on missing key is false", `{}`, `[["!=", ".a", 1]]`, false},
	{"not on missing key is true", `{}`, `[["not", ["==", ".a", 1]]]`, true},
	{"not-equal", `{"a":1}`, `[["!=", ".a", 2], ["!=", ".a", 1.5], ["!=", ".a", "1"]]`, true},
	{"not-equal cross type numbers", `{"a":1}`, `[["!=", ".a", 1.0]]`, false},

	// Optional selectors: a miss yields null, compared normally
	// (go-ucan makes the statement pass instead).
	{"optional miss equals null", `{}`, `[["==", ".a?", null]]`, true},
	{"optional miss is not 1", `{}`, `[["==", ".a?", 1]]`, false},
	{"optional miss not-equal 1", `{}`, `[["!=", ".a?", 1]]`, true},
	{"optional miss is not a number", `{}`, `[[">", ".a?", 0]]`, false},
	{"optional miss is not a string", `{}`, `[["like", ".a?", "*"]]`, false},
	{"optional miss is no collection for all", `{}`, `[["all", ".a?", ["==", ".", 1]]]`, false},
	{"optional miss is no collection for any", `{}`, `[["any", ".a?", ["==", ".", 1]]]`, false},
	{"optional iterate on null is null, not []", `{"a":null}`, `[["==", ".a[]?", null]]`, true},
	{"optional iterate on null is no collection", `{"a":null}`, `[["all", ".a[]?", ["==", ".", 1]]]`, false},

	// Ordering.
	{"greater int", `{"a":5}`, `[[">", ".a", 4], [">=", ".a", 5], ["<", ".a", 6], ["<=", ".a", 5]]`, true},
	{"greater float vs int", `{"a":5.5}`, `[[">", ".a", 5], ["<", ".a", 6], [">=", ".a", 5.5]]`, true},
	{"int vs float bound", `{"a":5}`, `[["<", ".a", 5.1], [">", ".a", 4.9]]`, true},
	{"not greater", `{"a":5}`, `[[">", ".a", 5]]`, false},
	{"not less", `{"a":5}`, `[["<", ".a", 5.0]]`, false},
	{"negative", `{"a":-3}`, `[["<", ".a", -2], [">", ".a", -3.5]]`, true},
	{"string is not ordered", `{"a":"b"}`, `[[">", ".a", 0]]`, false},
	{"string is not less either", `{"a":"b"}`, `[["<", ".a", 0]]`, false},
	{"null is not ordered", `{"a":null}`, `[["<=", ".a", 0]]`, false},
	{"list is not ordered", `{"a":[1]}`, `[[">=", ".a", 0]]`, false},
	{"ordering missing key", `{}`, `[["<", ".a", 1]]`, false},

	// like.
	{"like exact", `{"s":"abc"}`, `[["like", ".s", "abc"]]`, true},
	{"like star", `{"s":"abc"}`, `[["like", ".s", "a*"]]`, true},
	{"like star empty", `{"s":"a"}`, `[["like", ".s", "a*"]]`, true},
	{"like only star", `{"s":""}`, `[["like", ".s", "*"]]`, true},
	{"like leading star", `{"s":"bob@example.com"}`, `[["like", ".s", "*@example.com"]]`, true},
	{"like middle star", `{"s":"a-x-b"}`, `[["like", ".s", "a*b"]]`, true},
	{"like several stars", `{"s":"abcabc"}`, `[["like", ".s", "*b*b*"]]`, true},
	{"like stars need order", `{"s":"ba"}`, `[["like", ".s", "*a*b*"]]`, false},
	{"like overlapping anchors", `{"s":"ab"}`, `[["like", ".s", "ab*b"]]`, false},
	{"like escaped star", `{"s":"a*b"}`, `[["like", ".s", "a\\*b"]]`, true},
	{"like escaped star is literal", `{"s":"axb"}`, `[["like", ".s", "a\\*b"]]`, false},
	{"like no question mark wildcard", `{"s":"ab"}`, `[["like", ".s", "a?"]]`, false},
	{"like question mark literal", `{"s":"a?"}`, `[["like", ".s", "a?"]]`, true},
	{"like other backslash literal", `{"s":"a\\b"}`, `[["like", ".s", "a\\b"]]`, true},
	{"like whitespace significant", `{"s":" abc"}`, `[["like", ".s", "abc"]]`, false},
	{"like trailing whitespace", `{"s":"abc "}`, `[["like", ".s", "abc*"]]`, true},
	{"like unicode", `{"s":"héllo"}`, `[["like", ".s", "h*o"]]`, true},
	{"like non-string", `{"s":1}`, `[["like", ".s", "*"]]`, false},
	{"like bytes", `{"s":{"/":{"bytes":"YQ"}}}`, `[["like", ".s", "*"]]`, false},

	// Connectives.
	{"and empty", `{}`, `[["and", []]]`, true},
	{"or empty", `{}`, `[["or", []]]`, true},
	{"and all true", `{"a":1,"b":2}`, `[["and", [["==", ".a", 1], ["==", ".b", 2]]]]`, true},
	{"and one false", `{"a":1,"b":2}`, `[["and", [["==", ".a", 1], ["==", ".b", 3]]]]`, false},
	{"or one true", `{"a":1}`, `[["or", [["==", ".a", 2], ["==", ".a", 1]]]]`, true},
	{"or none true", `{"a":1}`, `[["or", [["==", ".a", 2], ["==", ".a", 3]]]]`, false},
	{"not true", `{"a":1}`, `[["not", ["==", ".a", 1]]]`, false},
	{"double not", `{"a":1}`, `[["not", ["not", ["==", ".a", 1]]]]`, true},
	{"implicit and", `{"a":1}`, `[["==", ".a", 1], ["==", ".a", 2]]`, false},

	// Quantifiers over lists and maps.
	{"all list", `{"a":[1,2,3]}`, `[["all", ".a", [">", ".", 0]]]`, true},
	{"all list one fails", `{"a":[1,-2,3]}`, `[["all", ".a", [">", ".", 0]]]`, false},
	{"any list", `{"a":[1,-2,3]}`, `[["any", ".a", ["<", ".", 0]]]`, true},
	{"any list none", `{"a":[1,2,3]}`, `[["any", ".a", ["<", ".", 0]]]`, false},
	{"all empty list", `{"a":[]}`, `[["all", ".a", ["==", ".", 1]]]`, true},
	{"any empty list", `{"a":[]}`, `[["any", ".a", ["==", ".", 1]]]`, false},
	{"all map values (go-ucan says false)", `{"a":{"x":1,"y":2}}`, `[["all", ".a", [">", ".", 0]]]`, true},
	{"all map values one fails", `{"a":{"x":1,"y":-2}}`, `[["all", ".a", [">", ".", 0]]]`, false},
	{"any map values (go-ucan says false)", `{"a":{"x":1,"y":-2}}`, `[["any", ".a", ["<", ".", 0]]]`, true},
	{"any map keys are not values", `{"a":{"x":1}}`, `[["any", ".a", ["==", ".", "x"]]]`, false},
	{"all on string", `{"a":"abc"}`, `[["all", ".a", ["==", ".", "a"]]]`, false},
	{"any on int", `{"a":1}`, `[["any", ".a", ["==", ".", 1]]]`, false},
	{"all on null", `{"a":null}`, `[["all", ".a", ["==", ".", 1]]]`, false},
	{"all on missing", `{}`, `[["all", ".a", ["==", ".", 1]]]`, false},
	{"all over elements missing a key", `{"a":[{"b":1},{"z":2}]}`, `[["all", ".a", [">", ".b", 0]]]`, false},
	{"nested quantifiers", `{"n":{"x":{"r":[{"e":"a"},{"e":"b"}]},"y":{"r":[{"e":"b"}]}}}`, `[["all", ".n", ["any", ".r", ["==", ".e", "b"]]]]`, true},
	{"quantifier over iterator", `{"a":[{"b":1},{"b":2}]}`, `[["all", ".a[].b", [">", ".", 0]], ["==", ".a[].b", [1, 2]]]`, true},
	{"quantifier over slice", `{"a":[5,6,-1]}`, `[["all", ".a[:2]", [">", ".", 0]], ["any", ".a[-1:]", ["<", ".", 0]]]`, true},

	// Selector forms inside statements.
	{"string index statement", `{"s":"hello"}`, `[["==", ".s[0]", "h"], ["==", ".s[-1]", "o"], ["==", ".s[1:3]", "el"]]`, true},
	{"bytes index statement", `{"b":{"/":{"bytes":"AAH/"}}}`, `[["==", ".b[2]", 255], ["==", ".b[0:2]", {"/":{"bytes":"AAE"}}]]`, true},
	{"index out of range statement", `{"a":[1]}`, `[["==", ".a[1]", null]]`, false},
	{"optional index out of range statement", `{"a":[1]}`, `[["==", ".a[1]?", null]]`, true},
	{"quoted key statement", `{"a b":{"c.d":1}}`, `[["==", ".[\"a b\"][\"c.d\"]", 1]]`, true},
	{"identity statement", `5`, `[["==", ".", 5]]`, true},
}

func TestMatch(t *testing.T) {
	for _, tt := range matchCases {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParseJSON(t, tt.policy)
			args := decodeJSON(t, []byte(tt.args))
			if got := p.Match(args); got != tt.want {
				t.Fatalf("%s on %s: Match = %v, want %v", tt.policy, tt.args, got, tt.want)
			}
			// Matching is a property of the data, not of its encoding: the
			// same must hold after a DAG-CBOR round trip of both.
			var buf bytes.Buffer
			if err := dagcbor.Encode(args, &buf); err != nil {
				t.Fatal(err)
			}
			nb := basicnode.Prototype.Any.NewBuilder()
			if err := dagcbor.Decode(nb, &buf); err != nil {
				t.Fatal(err)
			}
			q, err := Parse(decodeCBOR(t, encodeCBOR(t, p.Node())))
			if err != nil {
				t.Fatal(err)
			}
			if got := q.Match(nb.Build()); got != tt.want {
				t.Fatalf("after a DAG-CBOR round trip: Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func decodeCBOR(t testing.TB, data []byte) datamodel.Node {
	t.Helper()
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return nb.Build()
}

// TestNumbersBeyondInt64 uses an unsigned integer above MaxInt64, which
// go-ipld-prime represents as a datamodel.UintNode.
func TestNumbersBeyondInt64(t *testing.T) {
	nb := basicnode.Prototype.Map.NewBuilder()
	ma, _ := nb.BeginMap(1)
	_ = ma.AssembleKey().AssignString("a")
	_ = ma.AssembleValue().AssignNode(basicnode.NewUint(math.MaxUint64))
	_ = ma.Finish()
	args := nb.Build()
	p := mustParseJSON(t, `[[">", ".a", 9223372036854775807], ["<", ".a", 1e20], ["<", ".a", 18446744073709551615.0], ["!=", ".a", 18446744073709551615.0]]`)
	// The float literal rounds to 2^64, one above the argument.
	if err := p.Check(args); err != nil {
		t.Fatal(err)
	}
}

func TestEqualEdgeCases(t *testing.T) {
	nan := basicnode.NewFloat(math.NaN())
	if Equal(nan, nan) {
		t.Error("NaN equals NaN")
	}
	if Equal(nil, basicnode.NewInt(1)) || !Equal(nil, nil) {
		t.Error("nil handling")
	}
	if !Equal(basicnode.NewFloat(math.Inf(1)), basicnode.NewFloat(math.Inf(1))) {
		t.Error("+Inf differs from itself")
	}
	st := Statement{Op: OpLess, Selector: MustParseSelector("."), Value: basicnode.NewInt(1)}
	if st.Match(nan) {
		t.Error("NaN < 1")
	}
}

// TestHandBuiltStatements checks that malformed statements built in code
// are simply false, never a panic.
func TestHandBuiltStatements(t *testing.T) {
	args := decodeJSON(t, []byte(`{"a":[1]}`))
	sel := MustParseSelector(".a")
	for _, st := range []Statement{
		{},
		{Op: "bogus", Selector: sel},
		{Op: OpEqual, Selector: sel},
		{Op: OpNotEqual, Selector: sel},
		{Op: OpGreater, Selector: sel},
		{Op: OpNot},
		{Op: OpAll, Selector: sel},
		{Op: OpAny, Selector: sel, Operands: make([]Statement, 2)},
	} {
		if st.Match(args) {
			t.Errorf("%#v matched", st)
		}
		_ = st.Node()
		_ = st.String()
	}
}
