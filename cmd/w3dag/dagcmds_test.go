package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDAGCommandsJSON runs the DAG commands with --json against an in-process service and
// checks that every line they print is a JSON document with the expected fields.
func TestDAGCommandsJSON(t *testing.T) {
	clearEnv(t)
	url := startServer(t)
	t.Setenv("W3DAG_CONFIG", t.TempDir())
	t.Setenv("W3DAG_URL", url)
	t.Setenv("W3DAG_JSON", "true")
	if _, stderr, code := cli(t, "space", "new"); code != 0 {
		t.Fatalf("space new: %s", stderr)
	}
	const root = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	path := "pins/" + root
	value := `{"root": {"/": "` + root + `"}}`

	type receipt struct {
		Receipt map[string]string `json:"receipt"`
		Path    string            `json:"path"`
		Origin  map[string]string `json:"origin"`
		Seq     int64             `json:"seq"`
		Out     struct {
			Ok    map[string]any `json:"ok"`
			Error *struct{ Name, Message string }
		} `json:"out"`
	}
	lines := func(args ...string) []receipt {
		t.Helper()
		out, stderr, code := cli(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		var rs []receipt
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var r receipt
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("%v printed a line that is not JSON: %q: %v", args, l, err)
			}
			rs = append(rs, r)
		}
		return rs
	}
	put := lines("put", path, value)[0]
	if put.Out.Ok["status"] != "done" || put.Receipt["/"] == "" || !strings.HasSuffix(put.Path, path) {
		t.Errorf("put: %+v", put)
	}
	get := lines("get", path)[0]
	if get.Out.Ok["head"].(map[string]any)["/"] != put.Receipt["/"] {
		t.Errorf("get head %v, want %s", get.Out.Ok["head"], put.Receipt["/"])
	}
	out, stderr, code := cli(t, "ls", "pins")
	var page struct {
		Entries []struct {
			Key   string            `json:"key"`
			Head  map[string]string `json:"head"`
			State map[string]any    `json:"state"`
		} `json:"entries"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &page) != nil || len(page.Entries) != 1 || page.Entries[0].Key != root || page.Entries[0].Head["/"] != put.Receipt["/"] {
		t.Errorf("ls: exit %d %q %q", code, out, stderr)
	}
	rm := lines("rm", path)[0]
	if rm.Out.Ok["status"] != "removed" || rm.Origin["/"] != put.Receipt["/"] {
		t.Errorf("rm: %+v", rm)
	}
	chain := lines("receipt", "--chain", rm.Receipt["/"])
	if len(chain) != 2 || chain[1].Receipt["/"] != put.Receipt["/"] {
		t.Errorf("chain: %+v", chain)
	}
	watched := lines("watch", "pins", "--last-id", "0", "--count", "2")
	if len(watched) != 2 || watched[1].Receipt["/"] != rm.Receipt["/"] {
		t.Errorf("watch: %+v", watched)
	}
	// An error receipt is printed (as JSON) and the command fails.
	out, stderr, code = cli(t, "get", "pins/nothing")
	if code != 1 || !strings.Contains(stderr, "NotFound") || !strings.Contains(out, `"NotFound"`) {
		t.Errorf("get of a missing entry: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

// TestServicePinned checks trust on first use: the service DID is pinned for the URL, and a
// different --service makes every receipt fail verification.
func TestServicePinned(t *testing.T) {
	clearEnv(t)
	url := startServer(t)
	dir := t.TempDir()
	t.Setenv("W3DAG_CONFIG", dir)
	t.Setenv("W3DAG_URL", url)
	if _, stderr, code := cli(t, "space", "new"); code != 0 {
		t.Fatalf("space new: %s", stderr)
	}
	if _, stderr, code := cli(t, "get", "pins/x"); code != 1 || !strings.Contains(stderr, "NotFound") {
		t.Fatalf("get: exit %d %s", code, stderr)
	}
	out, _, _ := cli(t, "config", "--json")
	var info struct{ Service string }
	if err := json.Unmarshal([]byte(out), &info); err != nil || !strings.HasPrefix(info.Service, "did:key:") {
		t.Fatalf("config after first use: %q (%v), want a pinned service DID", out, err)
	}
	other := "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	if _, stderr, code := cli(t, "get", "pins/x", "--service", other); code != 1 || !strings.Contains(stderr, "receipt not issued by the service") || !strings.Contains(stderr, other) {
		t.Errorf("get with another service DID: exit %d %q, want the receipt refused", code, stderr)
	}
}
