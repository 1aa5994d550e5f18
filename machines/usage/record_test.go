package usage_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/machines/usage"
)

// TestParseRecordTestdata parses the good-*.json and bad-*.json records of testdata.
func TestParseRecordTestdata(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "records", "*.json"))
	if err != nil || len(files) < 4 {
		t.Fatalf("testdata: %v %v", files, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagjson.Decode(nb, bytes.NewReader(raw)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ev, err := usage.ParseRecord(nb.Build())
		good := strings.HasPrefix(filepath.Base(f), "good-")
		switch {
		case good && err != nil:
			t.Errorf("%s: %v", f, err)
		case good && (!ev.Blob.Defined() || !ev.Cause.Defined()):
			t.Errorf("%s: parsed %+v", f, ev)
		case !good && !errors.Is(err, usage.ErrInvalidRecord):
			t.Errorf("%s: got %v, want ErrInvalidRecord", f, err)
		}
	}
}

// FuzzParseRecord: any DAG-CBOR value parses as a record or fails with ErrInvalidRecord,
// never panics.
func FuzzParseRecord(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "records", "*.json"))
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagjson.Decode(nb, bytes.NewReader(raw)); err != nil {
			f.Fatal(err)
		}
		var buf bytes.Buffer
		if err := dagcbor.Encode(nb.Build(), &buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagcbor.Decode(nb, bytes.NewReader(data)); err != nil {
			return
		}
		ev, err := usage.ParseRecord(nb.Build())
		if err != nil {
			if !errors.Is(err, usage.ErrInvalidRecord) {
				t.Fatalf("error %v is not ErrInvalidRecord", err)
			}
			return
		}
		if !ev.Blob.Defined() || !ev.Cause.Defined() {
			t.Fatalf("parsed a record with undefined links: %+v", ev)
		}
	})
}
