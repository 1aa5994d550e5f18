package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/w3dag/w3dag/internal/fixtures"
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
	serveArgs, tour, err := readmeTour(string(readme))
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
	for i, line := range tour {
		words, err := splitShell(line)
		if err != nil || len(words) == 0 || words[0] != "w3dag" {
			t.Fatalf("tour line %d %q: not a w3dag command (%v)", i+1, line, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bin, words[1:]...)
		cmd.Dir, cmd.Env = work, env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err = cmd.Run()
		cancel()
		if err != nil {
			t.Fatalf("tour step %d: %s\n%v\nstdout:\n%s\nstderr:\n%s", i+1, line, err, out.String(), errb.String())
		}
		t.Logf("$ %s\n%s", line, out.String())
		checkTourStep(t, words[1:], out.String(), work)
	}
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

// readmeTour returns the serve arguments of the README's `go run ./cmd/w3dag serve …` line
// that starts the tour's service, and the lines of the ```sh tour block.
func readmeTour(readme string) (serve []string, tour []string, err error) {
	in := false
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "```sh tour":
			in = true
		case in && line == "```":
			in = false
		case in && line != "" && !strings.HasPrefix(line, "#"):
			tour = append(tour, line)
		case !in && tour == nil && strings.HasPrefix(line, "go run ./cmd/w3dag serve --"):
			cmd, _, _ := strings.Cut(line, "&")
			words, err := splitShell(strings.TrimSpace(cmd))
			if err != nil {
				return nil, nil, err
			}
			serve = words[3:]
		}
	}
	if len(tour) == 0 {
		return nil, nil, fmt.Errorf("README.md has no ```sh tour block")
	}
	if serve == nil {
		return nil, nil, fmt.Errorf("README.md has no `go run ./cmd/w3dag serve --…` line before the tour")
	}
	return serve, tour, nil
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
