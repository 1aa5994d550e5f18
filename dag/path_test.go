package dag_test

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/dag"
)

func readLines(t testing.TB, file string) []string {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func TestParsePathTestdata(t *testing.T) {
	for _, s := range readLines(t, "testdata/paths-good.txt") {
		p, err := dag.ParsePath(s)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", s, err)
			continue
		}
		again, err := dag.ParsePath(p.String())
		if err != nil || again.String() != p.String() {
			t.Errorf("round trip of %q: %q, %v", s, again.String(), err)
		}
	}
	for _, s := range readLines(t, "testdata/paths-bad.txt") {
		if _, err := dag.ParsePath(s); !errors.Is(err, dag.ErrInvalidPath) {
			t.Errorf("ParsePath(%q) = %v, want ErrInvalidPath", s, err)
		}
	}
}

func TestParsePath(t *testing.T) {
	const sp = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	car := carCID("x")
	for _, tc := range []struct {
		in   string
		want dag.Path
		err  string
	}{
		{in: "/" + sp + "/store/" + car.String(), want: dag.Path{Subject: sp, Collection: "store", Key: car.String()}},
		{in: "/" + sp + "/notes/k/a/b", want: dag.Path{Subject: sp, Collection: "notes", Key: "k", Fields: []string{"a", "b"}}},
		{in: "/" + sp + "/notes", want: dag.Path{Subject: sp, Collection: "notes"}},
		// Other bases are normalised to the canonical string.
		{in: "/" + sp + "/store/" + must(car.StringOfBase('z')), want: dag.Path{Subject: sp, Collection: "store", Key: car.String()}},
		{in: "/" + sp + "/store/" + rawCID("x").String(), err: "must be a CAR CID"},
		{in: "/" + sp + "//x", err: "empty"},
		{in: "store/x", err: "must start with"},
		{in: "/x/store", err: "not a DID"},
		{in: "/" + sp + "/notes/" + strings.Repeat("k", dag.MaxKeyLength+1), err: "longer than"},
		{in: "/" + sp + "/notes/k" + strings.Repeat("/f", dag.MaxFields+1), err: "fields"},
	} {
		got, err := dag.ParsePath(tc.in)
		if tc.err != "" {
			if !errors.Is(err, dag.ErrInvalidPath) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParsePath(%q) = %v, want error containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got.String() != tc.want.String() || got.Key != tc.want.Key {
			t.Errorf("ParsePath(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseRelative(t *testing.T) {
	const sp = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	p, err := dag.ParseRelative(sp, "notes/a/title")
	if err != nil || p.Rel() != "notes/a/title" || p.String() != "/"+sp+"/notes/a/title" || p.Entry().Rel() != "notes/a" {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{"", "/notes/a", "notes//a", "notes/a/"} {
		if _, err := dag.ParseRelative(sp, bad); !errors.Is(err, dag.ErrInvalidPath) {
			t.Errorf("ParseRelative(%q) = %v", bad, err)
		}
	}
	if _, err := dag.ParseRelative("nope", "notes/a"); !errors.Is(err, dag.ErrInvalidPath) {
		t.Errorf("bad subject: %v", err)
	}
}

func TestContains(t *testing.T) {
	a := dag.Path{Subject: "did:key:za", Collection: "store", Key: "k"}
	for _, tc := range []struct {
		prefix dag.Path
		want   bool
	}{
		{dag.Path{}, true},
		{dag.Path{Subject: "did:key:za"}, true},
		{dag.Path{Subject: "did:key:z"}, false},
		{dag.Path{Subject: "did:key:za", Collection: "store"}, true},
		{dag.Path{Subject: "did:key:za", Collection: "stor"}, false},
		{dag.Path{Subject: "did:key:za", Collection: "store", Key: "k"}, true},
		{dag.Path{Subject: "did:key:za", Collection: "store", Key: "k", Fields: []string{"x"}}, false},
	} {
		if got := tc.prefix.Contains(a); got != tc.want {
			t.Errorf("%+v contains %+v = %v", tc.prefix, a, got)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, file := range []string{"testdata/paths-good.txt", "testdata/paths-bad.txt"} {
		for _, s := range readLines(f, file) {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := dag.ParsePath(s)
		if err != nil {
			if !errors.Is(err, dag.ErrInvalidPath) {
				t.Fatalf("error does not wrap ErrInvalidPath: %v", err)
			}
			return
		}
		again, err := dag.ParsePath(p.String())
		if err != nil {
			t.Fatalf("String() of a parsed path does not parse: %q → %q: %v", s, p.String(), err)
		}
		if again.String() != p.String() {
			t.Fatalf("not stable: %q → %q → %q", s, p.String(), again.String())
		}
		if p.Collection != "" {
			rel, err := dag.ParseRelative(p.Subject, p.Rel())
			if err != nil || rel.String() != p.String() {
				t.Fatalf("relative form of %q does not parse back: %v", p.String(), err)
			}
		}
	})
}
