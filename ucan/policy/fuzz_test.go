package policy

import (
	"bufio"
	"bytes"
	"os"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

// fuzzArgs are the arguments every fuzzed policy and selector is applied to.
var fuzzArgs = []string{
	`null`,
	`{"a":[1,2,{"b":3}],"b":1,"s":"héllo","f":1.5,"m":{"x":{"y":[true,false]}},"bytes":{"/":{"bytes":"AAEC"}}}`,
	`[[1],2,[3,[4]],{"a":"b"}]`,
	`{"from":"alice@example.com","to":["bob@example.com","carol@x.org"],"n":{"a":{"r":[{"e":"b"}]}}}`,
	`"just a string"`,
}

func fuzzArgNodes(t testing.TB) []datamodel.Node {
	out := make([]datamodel.Node, len(fuzzArgs))
	for i, a := range fuzzArgs {
		out[i] = decodeJSON(t, []byte(a))
	}
	return out
}

// decodeFuzz decodes data as DAG-CBOR, or failing that as DAG-JSON.
func decodeFuzz(data []byte) (datamodel.Node, bool) {
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(data)); err == nil {
		return nb.Build(), true
	}
	nb = basicnode.Prototype.Any.NewBuilder()
	if err := (dagjson.DecodeOptions{ParseLinks: true, ParseBytes: true}).Decode(nb, bytes.NewReader(data)); err == nil {
		return nb.Build(), true
	}
	return nil, false
}

// FuzzParsePolicy decodes DAG-CBOR or DAG-JSON bytes, parses them as a
// policy and matches the policy against a few arguments. Nothing may panic;
// an accepted policy must survive Node → Parse unchanged and give the same
// answers after it.
func FuzzParsePolicy(f *testing.F) {
	for _, name := range []string{"parse_good.json", "parse_bad.json"} {
		list := readTestdata(f, name)
		for i := range list.Length() {
			n, _ := list.LookupByIndex(i)
			if p, err := n.LookupByString("policy"); err == nil {
				n = p
			}
			f.Add([]byte(encodeJSON(f, n)))
			f.Add(encodeCBOR(f, n))
		}
	}
	for _, c := range matchCases {
		f.Add([]byte(c.policy))
	}
	args := fuzzArgNodes(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		n, ok := decodeFuzz(data)
		if !ok {
			return
		}
		p, err := Parse(n)
		if err != nil {
			return
		}
		results := make([]bool, len(args))
		for i, a := range args {
			results[i] = p.Match(a)
			if (p.Check(a) == nil) != results[i] {
				t.Fatal("Check and Match disagree")
			}
		}
		back := p.Node()
		q, err := Parse(back)
		if err != nil {
			t.Fatalf("parsing Node() of an accepted policy: %v", err)
		}
		var b1, b2 bytes.Buffer
		err1 := dagjson.Encode(back, &b1)
		err2 := dagjson.Encode(q.Node(), &b2)
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(b1.Bytes(), b2.Bytes()) {
			t.Fatalf("round trip changed the policy: %s vs %s", b1.Bytes(), b2.Bytes())
		}
		for i, a := range args {
			if q.Match(a) != results[i] {
				t.Fatalf("round trip changed the result on args %d", i)
			}
		}
	})
}

// FuzzParseSelector parses arbitrary strings as selectors; an accepted one
// must print back unchanged and apply to some arguments without panicking.
func FuzzParseSelector(f *testing.F) {
	file, err := os.Open("testdata/selectors.txt")
	if err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		f.Add(sc.Text())
	}
	file.Close()
	for _, c := range selectCases {
		f.Add(c.sel)
	}
	args := fuzzArgNodes(f)
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			return
		}
		if sel.String() != s {
			t.Fatalf("String() = %q, parsed %q", sel.String(), s)
		}
		for _, a := range args {
			got, err := sel.Select(a)
			if err == nil && got == nil {
				t.Fatal("nil node without an error")
			}
		}
	})
}
