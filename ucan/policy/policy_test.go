package policy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

func encodeJSON(t testing.TB, n datamodel.Node) string {
	t.Helper()
	var buf bytes.Buffer
	if err := dagjson.Encode(n, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func encodeCBOR(t testing.TB, n datamodel.Node) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := dagcbor.Encode(n, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readTestdata(t testing.TB, name string) datamodel.Node {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, data)
}

func mustParseJSON(t testing.TB, s string) Policy {
	t.Helper()
	p, err := ParseJSON([]byte(s))
	if err != nil {
		t.Fatalf("parsing %s: %v", s, err)
	}
	return p
}

// TestParseGood parses every policy of testdata/parse_good.json and checks
// that Node gives back the same IPLD data (round trip through DAG-JSON and
// DAG-CBOR bytes).
func TestParseGood(t *testing.T) {
	list := readTestdata(t, "parse_good.json")
	if list.Length() == 0 {
		t.Fatal("no policies in testdata/parse_good.json")
	}
	for i := range list.Length() {
		n, _ := list.LookupByIndex(i)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			p, err := Parse(n)
			if err != nil {
				t.Fatalf("%s: %v", encodeJSON(t, n), err)
			}
			back := p.Node()
			if got, want := encodeJSON(t, back), encodeJSON(t, n); got != want {
				t.Fatalf("Node() = %s, want %s", got, want)
			}
			if !bytes.Equal(encodeCBOR(t, back), encodeCBOR(t, n)) {
				t.Fatal("DAG-CBOR of Node() differs from the input's")
			}
			if p.String() != encodeJSON(t, n) {
				t.Fatalf("String() = %s", p.String())
			}
			again, err := Parse(back)
			if err != nil {
				t.Fatalf("parsing Node(): %v", err)
			}
			if encodeJSON(t, again.Node()) != encodeJSON(t, back) {
				t.Fatal("second round trip differs")
			}
		})
	}
}

// TestParseBad checks that every policy of testdata/parse_bad.json is
// rejected with an error that says what is wrong and where.
func TestParseBad(t *testing.T) {
	list := readTestdata(t, "parse_bad.json")
	if list.Length() == 0 {
		t.Fatal("no cases in testdata/parse_bad.json")
	}
	for i := range list.Length() {
		c, _ := list.LookupByIndex(i)
		pn, err := c.LookupByString("policy")
		if err != nil {
			t.Fatal(err)
		}
		wn, _ := c.LookupByString("error")
		want, _ := wn.AsString()
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			_, err := Parse(pn)
			if err == nil {
				t.Fatalf("%s parsed", encodeJSON(t, pn))
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("error %v does not wrap ErrInvalidPolicy", err)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		})
	}
}

func TestParseSelectorErrorIsWrapped(t *testing.T) {
	_, err := ParseJSON([]byte(`[["==", ".a..b", 1]]`))
	if !errors.Is(err, ErrInvalidPolicy) || !errors.Is(err, ErrInvalidSelector) {
		t.Fatalf("got %v, want both ErrInvalidPolicy and ErrInvalidSelector", err)
	}
}

func TestParseNil(t *testing.T) {
	if _, err := Parse(nil); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("Parse(nil) = %v", err)
	}
	if _, err := ParseJSON([]byte(`[["==", ".a", 1]`)); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("truncated JSON: %v", err)
	}
}

// nest wraps stmt in n "not" statements.
func nest(stmt string, n int) string {
	return strings.Repeat(`["not", `, n) + stmt + strings.Repeat(`]`, n)
}

func TestLimits(t *testing.T) {
	leaf := `["==", ".a", 1]`
	// MaxDepth levels: MaxDepth-1 "not"s around the leaf.
	if _, err := ParseJSON([]byte("[" + nest(leaf, MaxDepth-1) + "]")); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
	_, err := ParseJSON([]byte("[" + nest(leaf, MaxDepth) + "]"))
	if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("depth %d: %v", MaxDepth+1, err)
	}
	// Far deeper than any decoder would produce, built by hand: fails
	// cleanly at MaxDepth.
	deep := decodeJSON(t, []byte(leaf))
	for range 100000 {
		deep, err = newList([]datamodel.Node{basicnode.NewString("not"), deep})
		if err != nil {
			t.Fatal(err)
		}
	}
	policy, err := newList([]datamodel.Node{deep})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(policy); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("100000 levels: %v", err)
	}

	many := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = leaf
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	if _, err := ParseJSON([]byte(many(MaxStatements))); err != nil {
		t.Fatalf("%d statements: %v", MaxStatements, err)
	}
	_, err = ParseJSON([]byte(many(MaxStatements + 1)))
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("%d statements: %v", MaxStatements+1, err)
	}
	// Nested statements count too.
	_, err = ParseJSON([]byte(`[["and", ` + many(MaxStatements) + `]]`))
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("%d nested statements: %v", MaxStatements+1, err)
	}

	value := strings.Repeat("[", MaxValueDepth) + strings.Repeat("]", MaxValueDepth)
	if _, err := ParseJSON([]byte(`[["==", ".a", ` + value + `]]`)); err != nil {
		t.Fatalf("value depth %d: %v", MaxValueDepth, err)
	}
	value = "[" + value + "]"
	if _, err := ParseJSON([]byte(`[["==", ".a", ` + value + `]]`)); err == nil || !strings.Contains(err.Error(), "value nested deeper") {
		t.Fatalf("value depth %d: %v", MaxValueDepth+1, err)
	}
	// Maps count as nesting like lists do.
	mapValue := strings.Repeat(`{"k":`, MaxValueDepth) + "1" + strings.Repeat("}", MaxValueDepth)
	if _, err := ParseJSON([]byte(`[["==", ".a", ` + mapValue + `]]`)); err != nil {
		t.Fatalf("map value depth %d: %v", MaxValueDepth, err)
	}
	mapValue = `[` + mapValue + `]`
	if _, err := ParseJSON([]byte(`[["==", ".a", ` + mapValue + `]]`)); err == nil || !strings.Contains(err.Error(), "value nested deeper") {
		t.Fatalf("map value depth %d: %v", MaxValueDepth+1, err)
	}

	sel := "." + strings.Repeat("a", MaxSelectorLength-1)
	if _, err := ParseSelector(sel); err != nil {
		t.Fatalf("selector of %d bytes: %v", len(sel), err)
	}
	if _, err := ParseSelector(sel + "a"); !errors.Is(err, ErrInvalidSelector) {
		t.Fatalf("selector of %d bytes: %v", len(sel)+1, err)
	}
}

// TestMatchDeepArgs matches against arguments far deeper than any literal:
// no stack blow-up, and a plain false.
func TestMatchDeepArgs(t *testing.T) {
	depth := 5000
	args := decodeJSONDepth(t, `{"a":`+strings.Repeat("[", depth)+strings.Repeat("]", depth)+`}`)
	p := mustParseJSON(t, `[["==", ".a", [[[]]]]]`)
	if p.Match(args) {
		t.Fatal("deep list equal to a shallow one")
	}
	p = mustParseJSON(t, `[["!=", ".a", [[[]]]], ["any", ".a", ["any", ".", ["any", ".", ["!=", ".", []]]]]]`)
	if !p.Match(args) {
		t.Fatal("deep args did not match")
	}
}

func decodeJSONDepth(t testing.TB, s string) datamodel.Node {
	t.Helper()
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := (dagjson.DecodeOptions{ParseLinks: true, ParseBytes: true, MaxDepth: 1 << 20}).Decode(nb, strings.NewReader(s)); err != nil {
		t.Fatal(err)
	}
	return nb.Build()
}

func TestZeroPolicy(t *testing.T) {
	var p Policy
	if !p.Match(nil) || !p.Match(basicnode.NewInt(1)) {
		t.Fatal("the zero policy must match anything")
	}
	if got := encodeJSON(t, p.Node()); got != "[]" {
		t.Fatalf("zero policy Node() = %s", got)
	}
}

func TestCheckNamesStatement(t *testing.T) {
	p := mustParseJSON(t, `[["==", ".a", 1], ["==", ".b", 2]]`)
	err := p.Check(decodeJSON(t, []byte(`{"a": 1, "b": 3}`)))
	if !errors.Is(err, ErrNoMatch) {
		t.Fatalf("Check = %v", err)
	}
	if want := `statement 1 ["==",".b",2] is false`; !strings.Contains(err.Error(), want) {
		t.Fatalf("Check = %q, want it to contain %q", err, want)
	}
}

func ExamplePolicy_Match() {
	p, err := ParseJSON([]byte(`[
		["==", ".from", "alice@example.com"],
		["any", ".to", ["like", ".", "*@example.com"]]
	]`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, args := range []string{
		`{"from": "alice@example.com", "to": ["bob@example.com", "carol@elsewhere.net"]}`,
		`{"from": "alice@example.com", "to": ["carol@elsewhere.net"]}`,
	} {
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagjson.Decode(nb, strings.NewReader(args)); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(p.Match(nb.Build()))
	}
	// Output:
	// true
	// false
}

func ExampleParse_error() {
	_, err := ParseJSON([]byte(`[["==", ".a", 1], ["!=", ".b", 2], ["like", ".c", 3]]`))
	fmt.Println(err)
	// Output:
	// invalid policy: statement 2: "like" needs a string pattern, not an int
}
