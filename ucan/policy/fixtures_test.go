package policy

import (
	"bytes"
	"os"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/internal/fixtures"
)

func decodeJSON(t testing.TB, data []byte) datamodel.Node {
	t.Helper()
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagjson.Decode(nb, bytes.NewReader(data)); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return nb.Build()
}

// TestSpecFixtures runs every case of the UCAN specification's policy
// fixture: each policy under "valid" must match its args, each under
// "invalid" must not.
func TestSpecFixtures(t *testing.T) {
	data, err := os.ReadFile(fixtures.Path(t, "ucan", "policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	root := decodeJSON(t, data)
	total := 0
	for _, group := range []struct {
		name string
		want bool
	}{{"valid", true}, {"invalid", false}} {
		cases, err := root.LookupByString(group.name)
		if err != nil {
			t.Fatalf("fixture has no %q: %v", group.name, err)
		}
		for ci := range cases.Length() {
			c, _ := cases.LookupByIndex(ci)
			args, err := c.LookupByString("args")
			if err != nil {
				t.Fatalf("%s case %d: %v", group.name, ci, err)
			}
			pols, err := c.LookupByString("policies")
			if err != nil {
				t.Fatalf("%s case %d: %v", group.name, ci, err)
			}
			for pi := range pols.Length() {
				pn, _ := pols.LookupByIndex(pi)
				p, err := Parse(pn)
				if err != nil {
					t.Errorf("%s case %d policy %d: parse: %v", group.name, ci, pi, err)
					continue
				}
				total++
				if got := p.Match(args); got != group.want {
					t.Errorf("%s case %d policy %d %s: Match = %v, want %v", group.name, ci, pi, p, got, group.want)
				}
				if err := p.Check(args); (err == nil) != group.want {
					t.Errorf("%s case %d policy %d: Check = %v", group.name, ci, pi, err)
				}
			}
		}
	}
	if total == 0 {
		t.Fatal("the fixture held no policies")
	}
	t.Logf("%d fixture policies checked", total)
}
