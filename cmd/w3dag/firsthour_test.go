package main

// Tests of what a new user meets in the first hour: a pinned service DID that must be
// forgotten, delegations that cannot work, error messages, help and version.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

func TestNormalizeURL(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", false},
		{"HTTP://127.0.0.1:8080/", "http://127.0.0.1:8080", false},
		{"http://LOCALHOST:80/", "http://localhost", false},
		{"https://W3DAG.example.org:443/api//", "https://w3dag.example.org/api", false},
		{"https://w3dag.example.org:8443", "https://w3dag.example.org:8443", false},
		{"http://[::1]:80", "http://[::1]", false},
		{"http://[::1]:8080/", "http://[::1]:8080", false},
		{"http://h/?q=1#f", "http://h", false},
		{"ftp://x", "", true},
		{"127.0.0.1:8080", "", true},
		{"http://", "", true},
	}
	for _, tt := range tests {
		got, err := normalizeURL(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("normalizeURL(%q) = %q, %v; want %q (error %t)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestForgetService replaces the service at a URL by one with another key: every command then
// fails naming both DIDs and the fix, and works again after `config forget-service`.
func TestForgetService(t *testing.T) {
	clearEnv(t)
	first, stop := startServerAt(t, t.TempDir(), "127.0.0.1:0")
	u, err := url.Parse(first)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Setenv("W3DAG_CONFIG", dir)
	// The URL as a user might type it: upper-case scheme, trailing slash. It is pinned as
	// http://127.0.0.1:PORT.
	t.Setenv("W3DAG_URL", "HTTP://"+u.Host+"/")
	if _, stderr, code := cli(t, "space", "new"); code != 0 {
		t.Fatal(stderr)
	}
	space := readState(t, dir).Space
	if _, stderr, code := cli(t, "get", "pins/x"); code != 1 || !strings.Contains(stderr, "NotFound") {
		t.Fatalf("get: exit %d %s", code, stderr)
	}
	oldDID := readState(t, dir).Services[first]
	if !strings.HasPrefix(oldDID, "did:key:") {
		t.Fatalf("pins %v, want the DID pinned under %s", readState(t, dir).Services, first)
	}

	stop()
	// A stopped service: the cause once, then the fix.
	_, stderr, code := cli(t, "get", "pins/x")
	if want := "w3dag get: cannot reach " + first + ": is `w3dag serve` running? (connection refused)\n"; code != 1 || stderr != want {
		t.Errorf("get with the service stopped: exit %d\n%q\nwant\n%q", code, stderr, want)
	}

	_, stderr, code = cli(t, "watch", "pins")
	if want := "w3dag watch: cannot reach " + first + ": is `w3dag serve` running? (connection refused)\n"; code != 1 || stderr != want {
		t.Errorf("watch with the service stopped: exit %d\n%q\nwant\n%q", code, stderr, want)
	}

	// A new service (new data folder, new key) on the same address.
	if again, _ := startServerAt(t, t.TempDir(), u.Host); again != first {
		t.Fatalf("second service at %s, want %s", again, first)
	}
	_, stderr, code = cli(t, "get", "pins/x")
	newDID := didIn(t, stderr, oldDID)
	want := fmt.Sprintf("w3dag get: receipt not issued by the service: it is signed by %s, but the service DID pinned for %s is %s; if the service there was replaced and you trust the new one, run `w3dag config forget-service %s` and try again\n", newDID, first, oldDID, first)
	if code != 1 || stderr != want {
		t.Fatalf("get from the new service: exit %d\n%q\nwant\n%q", code, stderr, want)
	}
	// With --service, the hint is about the flag.
	if _, stderr, _ := cli(t, "get", "pins/x", "--service", oldDID); !strings.Contains(stderr, "given with --service") || strings.Contains(stderr, "forget-service") {
		t.Errorf("get --service OLD: %q", stderr)
	}

	out, _, code := cli(t, "config", "forget-service")
	if code != 0 || out != fmt.Sprintf("forgot %s for %s: the next command pins the DID the service there publishes\n", oldDID, first) {
		t.Errorf("forget-service: exit %d %q", code, out)
	}
	_, stderr, code = cli(t, "get", "pins/x")
	if want := fmt.Sprintf("w3dag get: NotFound: no entry at /%s/pins/x\n", space); code != 1 || stderr != want {
		t.Errorf("get after forget-service: exit %d %q, want %q", code, stderr, want)
	}
	if got := readState(t, dir).Services[first]; got != newDID {
		t.Errorf("pinned %q after forget-service and a get, want %s", got, newDID)
	}

	// A config.json written with an unnormalised key keeps working, and is forgotten by any
	// spelling of the URL.
	st := readState(t, dir)
	st.Services = map[string]string{"HTTP://" + u.Host + "/": newDID}
	writeState(t, dir, st)
	if out, _, _ := cli(t, "config", "--url", first); !strings.Contains(out, "service "+newDID) {
		t.Errorf("config with an unnormalised pin:\n%s", out)
	}
	if _, stderr, code := cli(t, "get", "pins/x"); code != 1 || !strings.Contains(stderr, "NotFound") {
		t.Errorf("get with an unnormalised pin: exit %d %s", code, stderr)
	}
	writeState(t, dir, st)
	out, _, code = cli(t, "config", "forget-service", "http://"+strings.ToUpper(u.Hostname())+":"+u.Port()+"/", "--json")
	var forgot struct {
		URL    string  `json:"url"`
		Forgot *string `json:"forgot"`
	}
	if err := json.Unmarshal([]byte(out), &forgot); code != 0 || err != nil || forgot.URL != first || forgot.Forgot == nil || *forgot.Forgot != newDID {
		t.Errorf("forget-service of another spelling: exit %d %q", code, out)
	}
	if len(readState(t, dir).Services) != 0 {
		t.Errorf("pins left: %v", readState(t, dir).Services)
	}
	if out, _, code := cli(t, "config", "forget-service", "http://other:1"); code != 0 || !strings.Contains(out, "no service DID is pinned for http://other:1") {
		t.Errorf("forget-service of a URL with no pin: exit %d %q", code, out)
	}
	if _, stderr, code := cli(t, "config", "forget-service", "ftp://x"); code != 1 || !strings.Contains(stderr, "not an http(s) URL") {
		t.Errorf("forget-service ftp: exit %d %q", code, stderr)
	}
}

// didIn returns the DID in s that is not other.
func didIn(t *testing.T, s, other string) string {
	t.Helper()
	for _, w := range strings.Fields(s) {
		w = strings.TrimRight(w, ",;")
		if strings.HasPrefix(w, "did:key:") && w != other {
			return w
		}
	}
	t.Fatalf("no DID other than %s in %q", other, s)
	return ""
}

func readState(t *testing.T, dir string) state {
	t.Helper()
	st, err := (&profile{dir: dir}).state()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// writeState writes config.json as it is, without normalising.
func writeState(t *testing.T, dir string, st state) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDelegateCommands(t *testing.T) {
	clearEnv(t)
	t.Setenv("W3DAG_CONFIG", t.TempDir())
	if _, stderr, code := cli(t, "space", "new"); code != 0 {
		t.Fatal(stderr)
	}
	to := "did:key:z6MkuZJmbffVAfzQWoYxmQRijmUmMfAj5HPZvAEvHugwFwdd"
	const list = "use one of /, /dag, /dag/put, /dag/get, /dag/remove, /dag/select"
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--cmd", "/"}, 0, ""},
		{[]string{"--cmd", "/dag"}, 0, ""},
		{[]string{"--cmd", "/dag/get"}, 0, ""},
		{[]string{"--cmd", "/dag/select"}, 0, ""},
		{[]string{"--read-only"}, 0, ""},
		{[]string{"--cmd", "/dag/gett"}, 1, `--cmd: no w3dag operation is covered by "/dag/gett"; ` + list},
		{[]string{"--cmd", "/foo"}, 1, `--cmd: no w3dag operation is covered by "/foo"; ` + list},
		{[]string{"--cmd", "/dag/get/more"}, 1, `no w3dag operation is covered by "/dag/get/more"`},
		{[]string{"--cmd", "/da"}, 1, `no w3dag operation is covered by "/da"`},
		{[]string{"--cmd", "dag"}, 1, `--cmd: command "dag" does not begin with /; ` + list},
		{[]string{"--cmd", "/dag/"}, 1, "trailing slash; " + list},
		{[]string{"--cmd", "/DAG"}, 1, "not lower case; " + list},
		{[]string{}, 2, "one of --cmd or --read-only"},
		{[]string{"--cmd", "/dag/get", "--read-only"}, 2, "one of --cmd or --read-only"},
	}
	for _, tt := range tests {
		out, stderr, code := cli(t, append([]string{"delegate", "--to", to}, tt.args...)...)
		if code != tt.code || !strings.Contains(stderr, tt.want) || (code == 0) != (out != "") {
			t.Errorf("delegate %v: exit %d, stderr %q; want exit %d mentioning %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}

// TestProofValidity seals delegations to the agent outside and inside their validity window:
// proof add refuses the first with the dates in words, and proof ls shows where each stands.
func TestProofValidity(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	t.Setenv("W3DAG_CONFIG", dir)
	agentOut, _, _ := cli(t, "key", "show")
	agent := strings.TrimSpace(agentOut)
	space, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	unix := func(d time.Duration) *int64 { v := now.Add(d).Unix(); return &v }
	seal := func(exp, nbf *int64) string {
		t.Helper()
		tok, err := (&ucan.Delegation{Issuer: space.DID(), Audience: agent, Subject: space.DID(), Command: "/dag/get",
			Nonce: ucan.NewNonce(), Expiration: exp, NotBefore: nbf}).Seal(space, ucan.SealOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "d.ucan")
		if err := os.WriteFile(p, tok.Raw, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	date := func(d time.Duration) string { return now.Add(d).UTC().Format("2006-01-02 15:04 UTC") }
	tests := []struct {
		name     string
		exp, nbf *int64
		code     int
		want     string
	}{
		{"expired", unix(-3*time.Hour - time.Minute), nil, 1, "expired 3 hours ago (" + date(-3*time.Hour-time.Minute) + "); nothing was added: ask " + space.DID() + " for a new one"},
		{"expired a second ago", unix(-time.Second), nil, 1, "expired "},
		{"not yet valid", unix(24 * time.Hour), unix(5*time.Hour + time.Minute), 1, "is not valid before " + date(5*time.Hour+time.Minute) + " (in 5 hours)"},
		{"valid for minutes", unix(10 * time.Minute), nil, 0, "valid until " + date(10*time.Minute)},
		{"valid for a day", unix(30*time.Hour + time.Minute), unix(-time.Hour), 0, "valid until " + date(30*time.Hour+time.Minute) + " (in 30 hours)"},
		{"never expires", nil, nil, 0, "valid, never expires"},
	}
	added := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := cli(t, "proof", "add", seal(tt.exp, tt.nbf))
			if code != tt.code || !strings.Contains(out+stderr, tt.want) {
				t.Fatalf("proof add: exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, stderr, tt.code, tt.want)
			}
			if code == 0 {
				added++
			}
			out, _, _ = cli(t, "proof", "ls")
			if n := strings.Count(out, "\n"); n != added {
				t.Errorf("proof ls lists %d proofs, want %d:\n%s", n, added, out)
			}
		})
	}
	// On the ucan clock a delegation is valid through its exp second, expired after it.
	for _, tt := range []struct {
		at   time.Duration
		want string
	}{{0, statusValid}, {999 * time.Millisecond, statusValid}, {time.Second, statusExpired}, {2 * time.Minute, statusExpired}} {
		exp := now.Truncate(time.Second).Unix()
		v := validityOf(&ucan.Delegation{Expiration: &exp}, now.Truncate(time.Second).Add(tt.at))
		if v.status != tt.want {
			t.Errorf("%v after exp: %+v, want %s", tt.at, v, tt.want)
		}
	}
	out, _, _ := cli(t, "proof", "ls", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("proof ls --json: %q", out)
	}
	for _, l := range lines {
		var p struct{ Status, Validity string }
		if err := json.Unmarshal([]byte(l), &p); err != nil || p.Status != statusValid || !strings.HasPrefix(p.Validity, "valid") {
			t.Errorf("proof ls --json: %q (%v), want every added proof valid now", l, err)
		}
	}

	// A delegation that expired after it was added: proof ls says so, and a command that
	// finds no chain names it.
	tok, err := (&ucan.Delegation{Issuer: space.DID(), Audience: agent, Subject: space.DID(), Command: "/dag/select",
		Nonce: ucan.NewNonce(), Expiration: unix(-2 * time.Hour)}).Seal(space, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := (&profile{dir: dir}).addProof(tok); err != nil {
		t.Fatal(err)
	}
	if out, _, _ := cli(t, "proof", "ls"); !strings.Contains(out, "cmd /dag/select  sub "+space.DID()+"  expired 2 hours ago ("+date(-2*time.Hour)+")\n") {
		t.Errorf("proof ls with an expired proof:\n%s", out)
	}
	_, stderr, code := cli(t, "ls", "/"+space.DID()+"/pins", "--service", agent, "--url", "http://127.0.0.1:1")
	if code != 1 || !strings.Contains(stderr, "no delegation chain") || !strings.Contains(stderr, "; your delegation "+tok.CID.String()+" of /dag/select expired 2 hours ago") {
		t.Errorf("ls with only an expired /dag/select proof: exit %d %q", code, stderr)
	}
}

func TestInWords(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "less than a second"},
		{time.Second, "1 second"},
		{59 * time.Second, "59 seconds"},
		{time.Minute + 30*time.Second, "1 minute"},
		{3*time.Hour + 59*time.Minute, "3 hours"},
		{47 * time.Hour, "47 hours"},
		{49 * time.Hour, "2 days"},
	}
	for _, tt := range tests {
		if got := inWords(tt.d); got != tt.want {
			t.Errorf("inWords(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestErrorsSayItOnce checks error messages against a running service: the cause once, the
// path once, no doubled go-cid prefix.
func TestErrorsSayItOnce(t *testing.T) {
	clearEnv(t)
	t.Setenv("W3DAG_CONFIG", t.TempDir())
	t.Setenv("W3DAG_URL", startServer(t))
	out, _, _ := cli(t, "space", "new")
	space := strings.TrimSpace(out)
	root := "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"get", "pins/" + root}, "w3dag get: NotFound: no entry at /" + space + "/pins/" + root + "\n"},
		{[]string{"rm", "pins/" + root}, "w3dag rm: NotFound: no entry at /" + space + "/pins/" + root + "\n"},
		{[]string{"ls", "nope"}, "w3dag ls: UnknownCollection: a space has no collection \"nope\" (a space has: metrics, pins, store, upload, usage)\n"},
		{[]string{"receipt", "bafyfoo"}, "w3dag receipt: \"bafyfoo\" is neither a CID nor a path (varints malformed, could not reach the end)\n"},
		{[]string{"put", "pins/" + root, `{"root": {"/": "bafyfoo"}}`}, "w3dag put: VALUE is not DAG-JSON: a link {\"/\": …} does not hold a CID (varints malformed, could not reach the end)\n"},
	}
	for _, tt := range tests {
		_, stderr, code := cli(t, tt.args...)
		if code != 1 || stderr != tt.want {
			t.Errorf("%v: exit %d\n%q\nwant\n%q", tt.args, code, stderr, tt.want)
		}
	}
	_, stderr, _ := cli(t, "put", "pins/"+root, `{"root": {"/": "`+root+`"}, "x": 1}`)
	if !strings.HasPrefix(stderr, "w3dag put: InvalidValue: value of /"+space+"/pins/"+root+": ") || strings.Count(stderr, space) != 1 {
		t.Errorf("put of a value that does not fit the schema: %q", stderr)
	}
}

func TestHelpAndVersion(t *testing.T) {
	clearEnv(t)
	t.Setenv("W3DAG_CONFIG", t.TempDir())
	list, _, code := cli(t)
	if code != 0 {
		t.Fatalf("w3dag with no arguments: exit %d", code)
	}
	if help, _, _ := cli(t, "help"); help != list {
		t.Errorf("`w3dag help` and `w3dag` differ")
	}
	for name, c := range commands {
		if c.summary == "" || len(examples[name]) == 0 {
			t.Errorf("command %s has no one-line summary or no example (main.go: commands, examples)", name)
			continue
		}
		if !strings.Contains(list, fmt.Sprintf("  %-12s %s\n", name, c.summary)) {
			t.Errorf("`w3dag help` does not list %s with its summary", name)
		}
		out, stderr, code := cli(t, name, "-h")
		help := out + stderr
		if code != 0 || !strings.HasPrefix(stderr, "w3dag "+name+": "+c.summary+"\n") {
			t.Errorf("%s -h: exit %d, does not start with its summary:\n%s", name, code, help)
		}
		for _, ex := range examples[name] {
			if !strings.HasPrefix(ex, "w3dag "+name) && !(name == "version" && strings.HasPrefix(ex, "w3dag --version")) {
				t.Errorf("example %q of %s does not run %s", ex, name, name)
			}
			if !strings.Contains(help, "  "+ex+"\n") {
				t.Errorf("%s -h does not show the example %q", name, ex)
			}
		}
		if viaHelp, viaHelpErr, _ := cli(t, "help", name); len(viaHelp) != len(help) || !strings.HasPrefix(viaHelp, "w3dag "+name+": ") || viaHelpErr != "" {
			t.Errorf("`w3dag help %s` differs from `w3dag %s -h`, or is not all on stdout", name, name)
		}
	}
	if _, stderr, code := cli(t, "help", "nosuch"); code != 2 || !strings.Contains(stderr, "unknown command") {
		t.Errorf("help nosuch: exit %d %q", code, stderr)
	}
	// A -h after "--" is an argument, not a request for help.
	if _, stderr, _ := cli(t, "get", "--", "-h"); strings.Contains(stderr, "examples:") {
		t.Errorf("get -- -h printed help: %q", stderr)
	}

	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, _, code := cli(t, args...)
		if code != 0 || !strings.HasPrefix(out, "w3dag ") || !strings.HasSuffix(out, "go       "+runtime.Version()+"\n") {
			t.Errorf("%v: exit %d %q", args, code, out)
		}
	}
	out, _, _ := cli(t, "--version", "--json")
	var v buildVersion
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Module != "github.com/w3dag/w3dag" || v.Go != runtime.Version() || v.Version == "" {
		t.Errorf("--version --json: %q (%v)", out, err)
	}
}

func TestVersionOf(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "w3dag (unknown)\ngo       " + runtime.Version() + "\n"},
		{"go run", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/w3dag/w3dag", Version: "(devel)"}},
			"w3dag (devel)\ngo       go1.26.8\n"},
		{"tagged, clean checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/w3dag/w3dag", Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-06T01:02:03Z"}, {Key: "vcs.modified", Value: "false"}}},
			"w3dag v1.2.3\nrevision 0123abcd\ntime     2026-12-06T01:02:03Z\ngo       go1.26.8\n"},
		{"modified tree", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/w3dag/w3dag", Version: "v0.0.0-20261206010203-0123abcd+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"}}},
			"w3dag v0.0.0-20261206010203-0123abcd+dirty\nrevision 0123abcd (modified)\ngo       go1.26.8\n"},
	}
	for _, tt := range tests {
		if got := versionOf(tt.bi).String(); got != tt.want {
			t.Errorf("%s:\n%q\nwant\n%q", tt.name, got, tt.want)
		}
	}
}

// TestGetDelegationScope checks what the README says a delegation of /dag/get alone allows:
// get and watch, not ls (a /dag/select) nor put; receipts need no delegation.
func TestGetDelegationScope(t *testing.T) {
	clearEnv(t)
	t.Setenv("W3DAG_URL", startServer(t))
	alice, bob := t.TempDir(), t.TempDir()
	t.Setenv("W3DAG_CONFIG", alice)
	if _, stderr, code := cli(t, "space", "new"); code != 0 {
		t.Fatal(stderr)
	}
	const root = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	value := `{"root": {"/": "` + root + `"}}`
	out, stderr, code := cli(t, "put", "pins/"+root, value, "--json")
	if code != 0 {
		t.Fatal(stderr)
	}
	var put struct{ Receipt map[string]string }
	if err := json.Unmarshal([]byte(out), &put); err != nil {
		t.Fatal(err)
	}
	bobDID, _, _ := cli(t, "key", "show", "--config", bob)
	ctn := filepath.Join(t.TempDir(), "get.ucan")
	if _, stderr, code := cli(t, "delegate", "--to", strings.TrimSpace(bobDID), "--cmd", "/dag/get", "--out", ctn); code != 0 {
		t.Fatal(stderr)
	}
	t.Setenv("W3DAG_CONFIG", bob)
	if _, stderr, code := cli(t, "receipt", put.Receipt["/"]); code != 0 {
		t.Errorf("receipt CID with no delegation: exit %d %s", code, stderr)
	}
	if _, stderr, code := cli(t, "proof", "add", ctn); code != 0 {
		t.Fatal(stderr)
	}
	tests := []struct {
		args []string
		ok   bool
		want string
	}{
		{[]string{"get", "pins/" + root}, true, "status   done"},
		{[]string{"watch", "pins", "--last-id", "0", "--count", "1"}, true, root},
		{[]string{"ls", "pins"}, false, "covering /dag/select"},
		{[]string{"put", "pins/" + root, value}, false, "covering /dag/put"},
	}
	for _, tt := range tests {
		out, stderr, code := cli(t, tt.args...)
		if (code == 0) != tt.ok || !strings.Contains(out+stderr, tt.want) {
			t.Errorf("%v with a /dag/get delegation: exit %d, %q %q; want ok %t and %q", tt.args, code, out, stderr, tt.ok, tt.want)
		}
	}
}
