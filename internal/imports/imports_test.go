package imports_test

import (
	"slices"
	"testing"

	"github.com/w3dag/w3dag/internal/imports"
)

// TestOf reads this package itself: its one file imports only the standard library.
func TestOf(t *testing.T) {
	byFile, err := imports.Of(".")
	if err != nil {
		t.Fatal(err)
	}
	got := byFile["imports.go"]
	if !slices.Contains(got, "go/parser") || !slices.Contains(got, "testing") || len(byFile) != 1 {
		t.Fatalf("Of(.) = %v, want imports.go with go/parser and testing", byFile)
	}
	for _, p := range got {
		if !imports.Std(p) {
			t.Errorf("Std(%q) = false", p)
		}
	}
	if imports.Std("github.com/ipfs/go-cid") {
		t.Error("Std says github.com/ipfs/go-cid is the standard library")
	}
}

// TestCheck shows Check failing on a disallowed import and on a package it cannot read.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dir     string
		min     int
		allowed func(string) bool
		fail    bool
	}{
		{"all allowed", ".", 3, imports.Std, false},
		{"one banned", ".", 1, func(p string) bool { return p != "go/parser" }, true},
		{"nothing read", "testdata/none", 1, imports.Std, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			func() {
				defer func() { _ = recover() }() // Fatal on the recorder panics to stop
				imports.Check(rec, tc.dir, tc.min, tc.allowed)
			}()
			if rec.failed != tc.fail {
				t.Fatalf("Check failed = %v, want %v", rec.failed, tc.fail)
			}
		})
	}
}

// recorder notes failures instead of failing the test; Fatal stops Check by panicking.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.failed = true; panic("fatal") }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; panic("fatal") }
