package schema

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

// testdataCase is one DAG-JSON file under testdata/valid/<Type>/ or
// testdata/invalid/<Type>/ (with its expected error in a .err file).
type testdataCase struct {
	typ, name, file string
	data            []byte
	wantErr         string // "" for valid values
}

func readTestdata(t testing.TB) []testdataCase {
	t.Helper()
	var cases []testdataCase
	for _, dir := range []string{"valid", "invalid"} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*", "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no testdata under testdata/%s", dir)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c := testdataCase{
				typ:  filepath.Base(filepath.Dir(f)),
				name: strings.TrimSuffix(filepath.Base(f), ".json"),
				file: f,
				data: data,
			}
			if dir == "invalid" {
				want, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".err")
				if err != nil {
					t.Fatalf("invalid case without .err file: %v", err)
				}
				c.wantErr = strings.TrimSpace(string(want))
			}
			cases = append(cases, c)
		}
	}
	return cases
}

func decodeDAGJSON(data []byte) (datamodel.Node, error) {
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagjson.Decode(nb, bytes.NewReader(data)); err != nil {
		return nil, err
	}
	return nb.Build(), nil
}

func TestTestdata(t *testing.T) {
	s := MustLoad()
	seen := map[string]bool{}
	for _, c := range readTestdata(t) {
		t.Run(strings.TrimPrefix(c.file, "testdata/"), func(t *testing.T) {
			n, err := decodeDAGJSON(c.data)
			if err != nil {
				t.Fatalf("decoding: %v", err)
			}
			err = s.Validate(c.typ, n)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("valid value rejected: %v", err)
				}
				seen[c.typ] = true
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("want *ValidationError wrapping ErrInvalid, got %T %v", err, err)
			}
			if err.Error() != c.wantErr {
				t.Fatalf("error\n got: %s\nwant: %s", err, c.wantErr)
			}
		})
	}
	// Every input and state type of every collection has good examples.
	for _, subject := range []SubjectKind{SpaceSubject, ServiceSubject} {
		for _, c := range s.Collections(subject) {
			for _, typ := range []string{c.Input, c.State} {
				if !seen[typ] {
					t.Errorf("%s collection %s: no valid testdata for type %s", subject, c.Name, typ)
				}
			}
		}
	}
}
