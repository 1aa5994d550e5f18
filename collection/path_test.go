package collection_test

import (
	"bufio"
	"errors"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"os"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/collection"
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
		p, err := collection.Parse(s)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", s, err)
			continue
		}
		again, err := collection.Parse(p.String())
		if err != nil || again.String() != p.String() {
			t.Errorf("round trip of %q: %q, %v", s, again.String(), err)
		}
	}
	for _, s := range readLines(t, "testdata/paths-bad.txt") {
		if _, err := collection.Parse(s); !errors.Is(err, collection.ErrInvalidPath) {
			t.Errorf("ParsePath(%q) = %v, want ErrInvalidPath", s, err)
		}
	}
}

func TestParsePath(t *testing.T) {
	const sp = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	car := cid.NewCidV1(collection.CodecCAR, must(multihash.Sum([]byte("x"), multihash.SHA2_256, -1)))
	for _, tc := range []struct {
		in   string
		want collection.Path
		err  string
	}{
		{in: "/" + sp + "/store/" + car.String(), want: collection.Path{Subject: sp, Collection: "store", Key: car.String()}},
		{in: "/" + sp + "/notes/k/a/b", want: collection.Path{Subject: sp, Collection: "notes", Key: "k", Fields: []string{"a", "b"}}},
		{in: "/" + sp + "/notes", want: collection.Path{Subject: sp, Collection: "notes"}},
		// Keys are taken as written: Spec.CheckKey normalises them.
		{in: "/" + sp + "/store/" + must(car.StringOfBase('z')), want: collection.Path{Subject: sp, Collection: "store", Key: must(car.StringOfBase('z'))}},
		{in: "/" + sp + "//x", err: "empty"},
		{in: "store/x", err: "must start with"},
		{in: "/x/store", err: "not a DID"},
		{in: "/" + sp + "/notes/" + strings.Repeat("k", collection.MaxKeyLength+1), err: "longer than"},
		{in: "/" + sp + "/notes/k" + strings.Repeat("/f", collection.MaxFields+1), err: "fields"},
	} {
		got, err := collection.Parse(tc.in)
		if tc.err != "" {
			if !errors.Is(err, collection.ErrInvalidPath) || !strings.Contains(err.Error(), tc.err) {
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
	p, err := collection.ParseRelative(sp, "notes/a/title")
	if err != nil || p.Rel() != "notes/a/title" || p.String() != "/"+sp+"/notes/a/title" || p.Entry().Rel() != "notes/a" {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{"", "/notes/a", "notes//a", "notes/a/"} {
		if _, err := collection.ParseRelative(sp, bad); !errors.Is(err, collection.ErrInvalidPath) {
			t.Errorf("ParseRelative(%q) = %v", bad, err)
		}
	}
	if _, err := collection.ParseRelative("nope", "notes/a"); !errors.Is(err, collection.ErrInvalidPath) {
		t.Errorf("bad subject: %v", err)
	}
}

func TestContains(t *testing.T) {
	a := collection.Path{Subject: "did:key:za", Collection: "store", Key: "k"}
	for _, tc := range []struct {
		prefix collection.Path
		want   bool
	}{
		{collection.Path{}, true},
		{collection.Path{Subject: "did:key:za"}, true},
		{collection.Path{Subject: "did:key:z"}, false},
		{collection.Path{Subject: "did:key:za", Collection: "store"}, true},
		{collection.Path{Subject: "did:key:za", Collection: "stor"}, false},
		{collection.Path{Subject: "did:key:za", Collection: "store", Key: "k"}, true},
		{collection.Path{Subject: "did:key:za", Collection: "store", Key: "k", Fields: []string{"x"}}, false},
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
		p, err := collection.Parse(s)
		if err != nil {
			if !errors.Is(err, collection.ErrInvalidPath) {
				t.Fatalf("error does not wrap ErrInvalidPath: %v", err)
			}
			return
		}
		again, err := collection.Parse(p.String())
		if err != nil {
			t.Fatalf("String() of a parsed path does not parse: %q → %q: %v", s, p.String(), err)
		}
		if again.String() != p.String() {
			t.Fatalf("not stable: %q → %q → %q", s, p.String(), again.String())
		}
		if p.Collection != "" {
			rel, err := collection.ParseRelative(p.Subject, p.Rel())
			if err != nil || rel.String() != p.String() {
				t.Fatalf("relative form of %q does not parse back: %v", p.String(), err)
			}
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
