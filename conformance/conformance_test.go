package conformance

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestRunReportAgainstNothing(t *testing.T) {
	var out bytes.Buffer
	results := RunReport(context.Background(), Target{URL: "http://127.0.0.1:1"}, "", &out)
	if len(results) != len(Cases()) {
		t.Fatalf("%d results for %d cases", len(results), len(Cases()))
	}
	for _, r := range results {
		if r.Passed {
			t.Errorf("case %s passed against a closed port", r.Name)
		}
		if len(r.Log) == 0 {
			t.Errorf("case %s failed without saying why", r.Name)
		}
	}
	if !strings.Contains(out.String(), "FAIL  put-get") || !strings.Contains(out.String(), "service DID") {
		t.Errorf("report:\n%s", out.String())
	}
	if got := RunReport(context.Background(), Target{URL: "http://127.0.0.1:1"}, "watch", &out); len(got) != 1 || got[0].Name != "watch" {
		t.Errorf("filter watch ran %d cases", len(got))
	}
}

func TestRunnerFatalEndsCase(t *testing.T) {
	after := false
	r := runOne(context.Background(), Case{Name: "fatal", Run: func(ctx context.Context, t T, _ Target) {
		t.Logf("before")
		t.Fatalf("stop here: %d", 1)
		after = true
	}}, Target{})
	if r.Passed || after || strings.Join(r.Log, "|") != "before|stop here: 1" {
		t.Errorf("fatal case: passed %t, ran on %t, log %q", r.Passed, after, r.Log)
	}
	r = runOne(context.Background(), Case{Name: "panic", Run: func(context.Context, T, Target) { panic("boom") }}, Target{})
	if r.Passed || len(r.Log) != 1 || !strings.Contains(r.Log[0], "boom") {
		t.Errorf("panicking case: %+v", r)
	}
	r = runOne(context.Background(), Case{Name: "ok", Run: func(ctx context.Context, t T, _ Target) {
		t.Errorf("soft")
	}}, Target{})
	if r.Passed {
		t.Errorf("a case with Errorf passed")
	}
	r = runOne(context.Background(), Case{Name: "ok", Run: func(context.Context, T, Target) {}}, Target{})
	if !r.Passed {
		t.Errorf("an empty case failed: %v", r.Log)
	}
}

func TestCaseNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Cases() {
		if seen[c.Name] || c.Run == nil {
			t.Errorf("case %q repeated or without Run", c.Name)
		}
		seen[c.Name] = true
	}
}

func ExampleCases() {
	for _, c := range Cases()[:3] {
		fmt.Println(c.Name)
	}
	// Output:
	// service-did
	// put-get
	// put-same-value
}
