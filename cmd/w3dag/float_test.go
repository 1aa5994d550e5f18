package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFloatRoundTrip puts a whole Float into a schema-only collection, reads it back
// (printed as 10.0, not 10) and puts what was printed back: the same value, so the same
// head receipt and no EntryExists. An Int literal for the Float field is accepted and
// stored as the Float, with the same CID.
func TestFloatRoundTrip(t *testing.T) {
	clearEnv(t)
	ext := filepath.Join(t.TempDir(), "readings.ipldsch")
	if err := os.WriteFile(ext, []byte("type Space struct {\n  readings {String:Reading}\n}\n\ntype Reading struct {\n  x Float\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url, _ := startServerAt(t, t.TempDir(), "127.0.0.1:0", ext)
	t.Setenv("W3DAG_CONFIG", t.TempDir())
	t.Setenv("W3DAG_URL", url)
	if _, stderr, code := cli(t, "space", "new"); code != 0 {
		t.Fatalf("space new: %s", stderr)
	}
	receiptOf := regexp.MustCompile(`(?m)^receipt +(\S+)$`)
	headOf := regexp.MustCompile(`(?m)^head +(\S+)$`)
	stateOf := regexp.MustCompile(`(?m)^state +(.+)$`)
	// run returns the head receipt of the entry (the receipt itself for a write that
	// made it) and its state.
	run := func(args ...string) (head, state string) {
		t.Helper()
		out, stderr, code := cli(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		r, s := receiptOf.FindStringSubmatch(out), stateOf.FindStringSubmatch(out)
		if r == nil || s == nil {
			t.Fatalf("%v printed %q", args, out)
		}
		if h := headOf.FindStringSubmatch(out); h != nil {
			return h[1], s[1]
		}
		return r[1], s[1]
	}

	first, _ := run("put", "readings/a", `{"x": 10.0}`)
	head, state := run("get", "readings/a")
	if head != first || state != `{"status":"done","value":{"x":10.0}}` {
		t.Fatalf("get: receipt %s state %s, want %s with x 10.0", head, state, first)
	}
	value := strings.TrimSuffix(strings.TrimPrefix(state, `{"status":"done","value":`), "}")
	if again, _ := run("put", "readings/a", value); again != first {
		t.Errorf("putting back %s gave receipt %s, want the head %s (same value)", value, again, first)
	}
	if again, _ := run("put", "readings/a", `{"x": 10}`); again != first {
		t.Errorf("putting {\"x\": 10} gave receipt %s, want the head %s (10 is stored as 10.0)", again, first)
	}
	run("put", "readings/b", `{"x": 10}`)
	if _, state := run("get", "readings/b"); state != `{"status":"done","value":{"x":10.0}}` {
		t.Errorf("int put for a float field reads back as %s", state)
	}
	if _, stderr, code := cli(t, "put", "readings/c", `{"x": "10"}`); code != 1 || !strings.Contains(stderr, "expected a float, got string") {
		t.Errorf("string for a float field: exit %d %s", code, stderr)
	}
}
