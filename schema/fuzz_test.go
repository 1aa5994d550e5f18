package schema

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"unicode/utf8"

	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

// fuzzTypes are validated against every fuzz input: every input and state
// type of the system collections, the subjects, and the kinds extension.
var fuzzTypes = []string{
	"Space", "Service", "StoreInput", "StoreStatus", "UploadInput", "UploadStatus",
	"UsageRecord", "UsageStatus", "MetricInput", "MetricStatus", "CarwhereInput",
	"CarwhereStatus", "PieceInput", "PieceStatus", "AggregateInput", "AggregateStatus",
	"TaskInput", "TaskStatus", "RecordStatus", "Any",
	"Note", "Scalars", "Fields", "Priority", "Pair", "Version", "Pairs", "Result",
	"Mixed", "Shape", "Prefixed", "Tree", "Nullables", "Ref", "JobStatus",
}

// maxFuzzInput bounds the DAG-CBOR inputs the fuzzer decodes.
const maxFuzzInput = 64 << 10

func FuzzValidate(f *testing.F) {
	// Seeds: every DAG-JSON file under testdata/, re-encoded as DAG-CBOR,
	// plus values nested beyond MaxDepth.
	for _, c := range readTestdata(f) {
		n, err := decodeDAGJSON(c.data)
		if err != nil {
			f.Fatalf("%s: %v", c.file, err)
		}
		var buf bytes.Buffer
		if err := dagcbor.Encode(n, &buf); err != nil {
			f.Fatalf("%s: %v", c.file, err)
		}
		f.Add(buf.Bytes())
	}
	for _, v := range []string{nested(MaxDepth + 5), nestedTree(MaxDepth), `{"kind":"square","s":2}`, `[["a",1],["b","x"]]`, `"v1.2"`} {
		n, err := decodeDAGJSON([]byte(v))
		if err != nil {
			f.Fatal(err)
		}
		var buf bytes.Buffer
		if err := dagcbor.Encode(n, &buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	s := loadKinds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagcbor.Decode(nb, bytes.NewReader(data)); err != nil {
			return
		}
		n := nb.Build()
		for _, typ := range fuzzTypes {
			err := s.Validate(typ, n)
			if err == nil {
				continue
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("%s: want *ValidationError, got %T %v", typ, err, err)
			}
			if len(ve.Path) > MaxErrorPath || ve.Path == "" || ve.Type == "" || ve.Message == "" {
				t.Fatalf("%s: malformed error %#v", typ, ve)
			}
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("%s: error is not valid UTF-8: %q", typ, err.Error())
			}
			if again := s.Validate(typ, n); again == nil || again.Error() != err.Error() {
				t.Fatalf("%s: validation not deterministic: %v then %v", typ, err, again)
			}
		}
	})
}

// FuzzLoad feeds arbitrary extension sources to Load: it must return a
// schema or an error wrapping ErrSchema, never panic.
func FuzzLoad(f *testing.F) {
	kinds, err := os.ReadFile("testdata/kinds.ipldsch")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(kinds)
	f.Add([]byte(noteExt))
	f.Add([]byte(`type U union { | &Any "x" } representation inline { discriminantKey "k" }`))
	f.Add([]byte(`type E enum { | A } representation int`))
	f.Add([]byte(`type A = String`))
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := Load(src)
		if err != nil {
			if !errors.Is(err, ErrSchema) {
				t.Fatalf("error does not wrap ErrSchema: %v", err)
			}
			return
		}
		for _, subject := range []SubjectKind{SpaceSubject, ServiceSubject} {
			for _, c := range s.Collections(subject) {
				if !s.HasType(c.Input) || !s.HasType(c.State) || len(c.Statuses) == 0 {
					t.Fatalf("collection %+v refers to missing types", c)
				}
			}
		}
	})
}
