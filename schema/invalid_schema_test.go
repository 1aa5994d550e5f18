package schema

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInvalidSchemaFiles loads each testdata/invalid/*.ipldsch as an extension named by
// its file name and compares the error with the .err file beside it: the message names
// the file and the line of the definition at fault.
func TestInvalidSchemaFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.ipldsch"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/invalid/*.ipldsch")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			text, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(f, ".ipldsch") + ".err")
			if err != nil {
				t.Fatalf("no .err file: %v", err)
			}
			s, err := LoadSources(Source{Name: filepath.Base(f), Text: text})
			if err == nil {
				t.Fatalf("loaded %+v, want error %s", s.Collections(SpaceSubject), want)
			}
			var le *LoadError
			if !errors.As(err, &le) || !errors.Is(err, ErrSchema) {
				t.Fatalf("want a *LoadError wrapping ErrSchema, got %T %v", err, err)
			}
			if le.Source != filepath.Base(f) || le.Line <= 0 {
				t.Errorf("error placed at %q line %d", le.Source, le.Line)
			}
			if got := err.Error(); got != strings.TrimSpace(string(want)) {
				t.Errorf("error\n got: %s\nwant: %s", got, strings.TrimSpace(string(want)))
			}
			if strings.Contains(err.Error(), "TODO") {
				t.Errorf("error leaks a go-ipld-prime TODO: %v", err)
			}
		})
	}
}
