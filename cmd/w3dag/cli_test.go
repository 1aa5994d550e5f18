package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/ucan/did"
)

// clearEnv unsets every W3DAG_* variable for the rest of the test, so a developer's own
// settings cannot change what the commands under test do.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, envPrefix) {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

// cli runs w3dag in-process and returns stdout, stderr and the exit code.
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestParseFlagsEnvAndOrder(t *testing.T) {
	clearEnv(t)
	t.Setenv("W3DAG_LIMIT", "7")
	t.Setenv("W3DAG_URL", "http://from-env:1")
	fs, cf := newFlags("ls", "usage: w3dag ls", os.Stderr)
	limit := fs.Int("limit", 0, "")
	all := fs.Bool("all", false, "")
	pos, err := parseFlags(fs, []string{"upload", "--all", "--url", "http://flag:2", "--", "--not-a-flag"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pos, " ") != "upload --not-a-flag" {
		t.Errorf("positional %q", pos)
	}
	if *limit != 7 || !*all || cf.url != "http://flag:2" {
		t.Errorf("limit %d all %t url %q: flags must win over the environment, which fills the rest", *limit, *all, cf.url)
	}
	t.Setenv("W3DAG_PER_MESSAGE", "x")
	fs2, _ := newFlags("bench", "usage: w3dag bench", os.Stderr)
	fs2.Int("per-message", 1, "")
	if _, err := parseFlags(fs2, nil); err == nil || !strings.Contains(err.Error(), "W3DAG_PER_MESSAGE") {
		t.Errorf("bad environment value: %v, want an error naming W3DAG_PER_MESSAGE", err)
	}
}

func TestResolve(t *testing.T) {
	e := &env{state: state{Space: "did:key:zSpace"}}
	for in, want := range map[string]string{
		"upload/bafy":             "/did:key:zSpace/upload/bafy",
		"/upload/bafy":            "/did:key:zSpace/upload/bafy",
		"/did:key:zOther/store/x": "/did:key:zOther/store/x",
		"did:key:zOther/store/x":  "/did:key:zOther/store/x",
	} {
		got, err := e.resolve(in)
		if err != nil || got != want {
			t.Errorf("resolve(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := (&env{}).resolve("upload/x"); err == nil || !strings.Contains(err.Error(), "space new") {
		t.Errorf("relative path without a space: %v", err)
	}
}

// TestKeySpaceDelegateProof runs the offline commands: keys, spaces, a delegation from one
// config dir to another, and the errors of each.
func TestKeySpaceDelegateProof(t *testing.T) {
	clearEnv(t)
	alice, bob := t.TempDir(), t.TempDir()
	t.Setenv("W3DAG_CONFIG", alice)

	out, _, code := cli(t, "key", "new")
	if code != 0 {
		t.Fatalf("key new exit %d", code)
	}
	agent := strings.TrimSpace(out)
	if _, err := did.Parse(agent); err != nil {
		t.Fatalf("key new printed %q: %v", agent, err)
	}
	info, err := os.Stat(filepath.Join(alice, agentKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("agent.key: %v mode %v, want 0600", err, info.Mode())
	}
	if _, stderr, code := cli(t, "key", "new"); code == 0 || !strings.Contains(stderr, "already exists") {
		t.Errorf("second key new: exit %d, %q", code, stderr)
	}
	if out, _, _ := cli(t, "key", "show"); strings.TrimSpace(out) != agent {
		t.Errorf("key show %q, want %q", out, agent)
	}

	out, _, code = cli(t, "space", "new")
	space := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(space, "did:key:") {
		t.Fatalf("space new: exit %d, %q", code, out)
	}
	if out, _, _ := cli(t, "space", "ls"); !strings.Contains(out, "* "+space) {
		t.Errorf("space ls %q does not mark %s current", out, space)
	}

	bobDID, _, _ := cli(t, "key", "show", "--config", bob)
	bobDID = strings.TrimSpace(bobDID)
	ctn := filepath.Join(t.TempDir(), "bob.ctn")
	if _, stderr, code := cli(t, "delegate", "--to", bobDID, "--cmd", "/dag/get", "--expires", "1h", "--out", ctn); code != 0 {
		t.Fatalf("delegate: exit %d: %s", code, stderr)
	}
	if _, stderr, code := cli(t, "delegate", "--to", "nobody", "--cmd", "/dag/get"); code == 0 || !strings.Contains(stderr, "--to") {
		t.Errorf("delegate to a non-DID: exit %d, %q", code, stderr)
	}
	if _, stderr, code := cli(t, "delegate", "--to", bobDID, "--cmd", "dag"); code == 0 || !strings.Contains(stderr, "--cmd") {
		t.Errorf("delegate of a bad command: exit %d, %q", code, stderr)
	}

	t.Setenv("W3DAG_CONFIG", bob)
	out, stderr, code := cli(t, "proof", "add", ctn)
	if code != 0 || strings.Count(out, "\n") != 2 {
		t.Fatalf("proof add: exit %d, %q %q", code, out, stderr)
	}
	if out, _, _ := cli(t, "space", "ls"); !strings.Contains(out, "* "+space) {
		t.Errorf("bob's space ls %q: the delegated space should be current", out)
	}
	// Bob holds /dag/get only: he cannot re-delegate /dag/put.
	if _, stderr, code := cli(t, "delegate", "--to", agent, "--cmd", "/dag/put"); code == 0 || !strings.Contains(stderr, "no delegation chain") {
		t.Errorf("re-delegating more than held: exit %d, %q", code, stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("not a token"), 0o600)
	if _, stderr, code := cli(t, "proof", "add", bad); code == 0 || !strings.Contains(stderr, "neither") {
		t.Errorf("proof add of garbage: exit %d, %q", code, stderr)
	}
}

func TestCommandErrors(t *testing.T) {
	clearEnv(t)
	t.Setenv("W3DAG_CONFIG", t.TempDir())
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"put", "upload/x", "{nope"}, 1, "not DAG-JSON"},
		{[]string{"get", "upload/x"}, 1, "no current space"},
		{[]string{"get"}, 2, "usage"},
		{[]string{"ls", "upload", "--limit", "5000"}, 2, "--limit"},
		{[]string{"receipt", "not-a-cid"}, 1, "neither a CID nor a path"},
		{[]string{"bench", "--per-message", "0"}, 2, "--per-message"},
		{[]string{"bench", "--count", "5", "--duration", "1s"}, 2, "not both"},
		{[]string{"space", "use", "nope"}, 1, "not a did:key"},
		{[]string{"nosuch"}, 2, "unknown command"},
		{[]string{"get", "--bogus", "x"}, 2, "bogus"},
	}
	for _, tt := range tests {
		_, stderr, code := cli(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}

func TestConfigURL(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	t.Setenv("W3DAG_CONFIG", dir)
	out, _, code := cli(t, "config")
	if code != 0 || !strings.Contains(out, "url     http://127.0.0.1:8080") || !strings.Contains(out, "space   (none") {
		t.Fatalf("config: exit %d\n%s", code, out)
	}
	if _, stderr, code := cli(t, "config", "url", "ftp://x"); code == 0 || !strings.Contains(stderr, "not an http(s) URL") {
		t.Errorf("config url ftp: exit %d %q", code, stderr)
	}
	if _, _, code := cli(t, "config", "url", "HTTP://Saved:9/"); code != 0 {
		t.Fatal("config url failed")
	}
	if out, _, _ := cli(t, "config", "--json"); !strings.Contains(out, `"url":"http://saved:9"`) {
		t.Errorf("saved url not used: %s", out)
	}
	t.Setenv("W3DAG_URL", "http://env:1")
	if out, _, _ := cli(t, "config"); !strings.Contains(out, "url     http://env:1") {
		t.Errorf("W3DAG_URL must win over config.json:\n%s", out)
	}
	if out, _, _ := cli(t, "config", "--url", "http://flag:2"); !strings.Contains(out, "url     http://flag:2") {
		t.Errorf("--url must win over W3DAG_URL:\n%s", out)
	}
}
