package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/w3dag/w3dag/internal/fixtures"
	"github.com/w3dag/w3dag/ucan/did"
)

// TestReadmeTour follows the README's five-minute tour command by command against the built
// binary: the commands are read from README.md itself (the ```sh tour block, and the serve
// line before it), so the README and this test cannot drift apart.
func TestReadmeTour(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	clearEnv(t)
	root := fixtures.Root(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	serveArgs, tour, friend, err := readmeTour(string(readme))
	if err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(t.TempDir(), "w3dag")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The service, as the README starts it, on a free port with a temporary data folder.
	args := append(serveArgs, "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--log-level", "warn")
	srv := exec.Command(bin, args...)
	srv.Dir = root // the README runs it from the repository root (relative --schema)
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var srvErr bytes.Buffer
	srv.Stderr = &srvErr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
		if t.Failed() {
			t.Logf("serve stderr:\n%s", srvErr.String())
		}
	})
	url, err := listeningURL(stdout, 30*time.Second)
	if err != nil {
		t.Fatalf("serve %v: %v\n%s", args, err, srvErr.String())
	}

	// The tour runs from the repository root in the README; here it runs in a scratch dir
	// holding a copy of docs/examples, so files it writes stay out of the repository.
	work := t.TempDir()
	if err := os.CopyFS(filepath.Join(work, "docs", "examples"), os.DirFS(filepath.Join(root, "docs", "examples"))); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "W3DAG_CONFIG="+filepath.Join(work, "config"), "W3DAG_URL="+url)
	runTour(t, bin, work, env, "tour", tour)
	readmeServiceRead(t, string(readme), bin, work, env)

	// The friend the tour delegates to runs the ```sh friend block with their own config,
	// whose agent key is testdata/friend.key: the DID the README delegates to.
	friendDir := filepath.Join(work, "friend")
	if err := os.Mkdir(friendDir, 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join("testdata", "friend.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(friendDir, agentKeyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	friendKey, err := did.ReadKeyFile(filepath.Join(friendDir, agentKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if to := delegateTo(tour); to != friendKey.DID() {
		t.Fatalf("the tour delegates to %q, but the friend's key (testdata/friend.key) is %s", to, friendKey.DID())
	}
	friendEnv := append(os.Environ(), "W3DAG_CONFIG="+friendDir, "W3DAG_URL="+url)
	runTour(t, bin, work, friendEnv, "friend", friend)

	// What the README says the friend cannot do: write.
	const pin = "pins/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	for _, args := range [][]string{
		{"put", pin, `{"root": {"/": "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"}}`},
		{"rm", pin},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = work, friendEnv
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "no delegation chain") {
			t.Errorf("the friend's %s: %v\n%s\nwant it refused for want of a delegation", args[0], err, out)
		}
	}
}

// readmeServiceRead runs the README's `w3dag get /<service DID>/carwhere/<CID>` (prose after
// the tour, since the service DID differs per data folder) with the DID `w3dag config`
// shows: the agent holds no delegation from the service, and the stored CAR's entry is
// there.
func readmeServiceRead(t *testing.T, readme, bin, work string, env []string) {
	t.Helper()
	m := regexp.MustCompile("`w3dag get /<service DID>/(carwhere/[a-z0-9]+)`").FindStringSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no `w3dag get /<service DID>/carwhere/<CID>`")
	}
	w3dag := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = work, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("w3dag %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	var cfg struct{ Service string }
	if err := json.Unmarshal([]byte(w3dag("config", "--json")), &cfg); err != nil || !strings.HasPrefix(cfg.Service, "did:key:") {
		t.Fatalf("w3dag config --json: service %q, %v", cfg.Service, err)
	}
	if out := w3dag("get", "/"+cfg.Service+"/"+m[1]); !strings.Contains(out, "located") {
		t.Errorf("w3dag get /<service DID>/%s printed:\n%s\nwant the located entry", m[1], out)
	}
}

// runTour runs the w3dag command lines of a README block in work with env, checking each.
func runTour(t *testing.T, bin, work string, env []string, block string, lines []string) {
	t.Helper()
	for i, line := range lines {
		words, err := splitShell(line)
		if err != nil || len(words) == 0 || words[0] != "w3dag" {
			t.Fatalf("%s line %d %q: not a w3dag command (%v)", block, i+1, line, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bin, words[1:]...)
		cmd.Dir, cmd.Env = work, env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err = cmd.Run()
		cancel()
		if err != nil {
			t.Fatalf("%s step %d: %s\n%v\nstdout:\n%s\nstderr:\n%s", block, i+1, line, err, out.String(), errb.String())
		}
		t.Logf("$ %s\n%s", line, out.String())
		checkTourStep(t, words[1:], out.String(), work)
	}
}

// delegateTo is the --to of the tour's delegate line.
func delegateTo(tour []string) string {
	for _, line := range tour {
		words, _ := splitShell(line)
		if len(words) > 1 && words[1] == "delegate" {
			for i, w := range words {
				if w == "--to" && i+1 < len(words) {
					return words[i+1]
				}
			}
		}
	}
	return ""
}

// checkTourStep checks what a tour command printed, beyond its exit status.
func checkTourStep(t *testing.T, args []string, out, work string) {
	t.Helper()
	switch args[0] {
	case "key", "space":
		if !strings.HasPrefix(out, "did:key:") {
			t.Errorf("%s printed %q, want a DID", strings.Join(args, " "), out)
		}
	case "put", "rm":
		if !strings.Contains(out, "receipt  ") || !strings.Contains(out, "status   ") {
			t.Errorf("%s printed no receipt:\n%s", args[0], out)
		}
	case "usage":
		if !strings.Contains(out, "109 bytes") {
			t.Errorf("usage after storing hello.car (109 bytes):\n%s", out)
		}
	case "store":
		if !strings.HasSuffix(strings.TrimSpace(out), " done") {
			t.Errorf("store printed %q, want the CAR CID and done", out)
		}
	case "get":
		if strings.HasSuffix(args[1], "/value/name") && !strings.Contains(out, `"holiday photos"`) {
			t.Errorf("get of a field printed:\n%s", out)
		}
	case "ls":
		if strings.Count(out, "\n") < 1 {
			t.Errorf("ls printed nothing")
		}
	case "watch", "receipt":
		want := 3 // put, remove, put
		got := strings.Count(out, "\n")
		if args[0] == "receipt" {
			got = strings.Count(out, "receipt  ")
		}
		if got != want {
			t.Errorf("%s printed %d receipts, want %d:\n%s", args[0], got, want, out)
		}
		if !strings.Contains(out, "removed") {
			t.Errorf("%s does not show the removal:\n%s", args[0], out)
		}
	case "proof":
		// The friend adds the --read-only container: both commands and the chain behind them,
		// each valid for the 24 hours the tour asked for.
		for _, want := range []string{"cmd /dag/get ", "cmd /dag/select ", "cmd / ", "valid until "} {
			if !strings.Contains(out, want) {
				t.Errorf("proof add printed no %q:\n%s", want, out)
			}
		}
	case "delegate":
		for i, a := range args {
			if a == "--out" && i+1 < len(args) {
				if fi, err := os.Stat(filepath.Join(work, args[i+1])); err != nil || fi.Size() == 0 {
					t.Errorf("delegate --out %s: %v", args[i+1], err)
				}
			}
		}
	}
}

// readmeTour returns the arguments of the README's `w3dag serve …` line that starts the
// tour's service (after the `go build -o w3dag ./cmd/w3dag` that builds the binary it runs,
// so that `kill %1` stops the service itself, not a `go run` wrapper), and the lines of the
// ```sh tour and ```sh friend blocks.
func readmeTour(readme string) (serve, tour, friend []string, err error) {
	var block string
	built := false
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "```sh tour" || line == "```sh friend":
			block = strings.TrimPrefix(line, "```sh ")
		case block != "" && line == "```":
			block = ""
		case block == "tour" && line != "" && !strings.HasPrefix(line, "#"):
			tour = append(tour, line)
		case block == "friend" && line != "" && !strings.HasPrefix(line, "#"):
			friend = append(friend, line)
		case tour == nil && strings.HasPrefix(line, "go build -o w3dag ./cmd/w3dag"):
			built = true
		case tour == nil && strings.HasPrefix(line, "go run ./cmd/w3dag serve --"):
			return nil, nil, nil, fmt.Errorf("README.md starts the tour's service with %q: `kill %%1` would stop `go run`, not the service; run the built binary", line)
		case tour == nil && strings.HasPrefix(line, "w3dag serve --"):
			if !built {
				return nil, nil, nil, fmt.Errorf("README.md runs %q before `go build -o w3dag ./cmd/w3dag`", line)
			}
			cmd, _, _ := strings.Cut(line, "&")
			words, err := splitShell(strings.TrimSpace(cmd))
			if err != nil {
				return nil, nil, nil, err
			}
			serve = words[1:]
		}
	}
	switch {
	case len(tour) == 0:
		return nil, nil, nil, fmt.Errorf("README.md has no ```sh tour block")
	case len(friend) == 0:
		return nil, nil, nil, fmt.Errorf("README.md has no ```sh friend block")
	case serve == nil:
		return nil, nil, nil, fmt.Errorf("README.md has no `w3dag serve --…` line before the tour")
	}
	return serve, tour, friend, nil
}

// splitShell splits a command line into words, honouring single and double quotes (no
// escapes or expansions: the tour does not use them).
func splitShell(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '$' || r == '`' || r == '\\' || r == '|' || r == ';' || r == '>' || r == '<':
			return nil, fmt.Errorf("%q: shell syntax %q is not supported in the tour", s, r)
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("%q: unterminated quote", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// listeningURL reads serve's stdout until its "listening on URL" line.
func listeningURL(r io.Reader, timeout time.Duration) (string, error) {
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				urls <- u
				break
			}
		}
		close(urls)
		io.Copy(io.Discard, r)
	}()
	select {
	case u, ok := <-urls:
		if !ok {
			return "", fmt.Errorf("serve exited before listening")
		}
		return u, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("serve did not listen within %s", timeout)
	}
}

func TestSplitShell(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{`w3dag put a '{"x": 1}'`, []string{"w3dag", "put", "a", `{"x": 1}`}, false},
		{`w3dag  get   "b c"`, []string{"w3dag", "get", "b c"}, false},
		{`w3dag put a 'x`, nil, true},
		{`w3dag get $X`, nil, true},
	}
	for _, tt := range tests {
		got, err := splitShell(tt.in)
		if (err != nil) != tt.err || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("splitShell(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func TestReadmeTourParse(t *testing.T) {
	const blocks = "```sh tour\nw3dag key new\n```\n```sh friend\nw3dag ls pins\n```\n"
	tests := []struct {
		name, readme string
		serve        string
		err          string
	}{
		{"built binary", "go build -o w3dag ./cmd/w3dag && export PATH=$PWD:$PATH\nw3dag serve --schema s.ipldsch &\n" + blocks, "serve --schema s.ipldsch", ""},
		{"go run", "go run ./cmd/w3dag serve --schema s.ipldsch &\n" + blocks, "", "kill %1"},
		{"serve before build", "w3dag serve --schema s.ipldsch &\ngo build -o w3dag ./cmd/w3dag\n" + blocks, "", "before `go build"},
		{"no friend block", "go build -o w3dag ./cmd/w3dag\nw3dag serve --x &\n```sh tour\nw3dag key new\n```\n", "", "no ```sh friend block"},
	}
	for _, tt := range tests {
		serve, tour, friend, err := readmeTour(tt.readme)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: %v, want an error mentioning %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || strings.Join(serve, " ") != tt.serve || len(tour) != 1 || len(friend) != 1 {
			t.Errorf("%s: serve %q tour %q friend %q %v", tt.name, serve, tour, friend, err)
		}
	}
}
