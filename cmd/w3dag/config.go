package main

// Client-side state and the flag handling shared by the client commands.
//
// The config dir (--config, $W3DAG_CONFIG, default ~/.config/w3dag) holds:
//
//	agent.key          the agent's private key (0600), created on first use
//	config.json        {"space": "<current space DID>", "url": "<service URL>"}
//	spaces/<did>.key   private keys of the spaces created here (0600)
//	proofs/<cid>.ucan  delegations the agent holds (raw UCAN envelopes)

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

const (
	// envPrefix starts the environment twin of every flag: --foo-bar ↔ W3DAG_FOO_BAR.
	envPrefix = "W3DAG_"
	// agentKeyFile is the agent key's file name inside the config dir.
	agentKeyFile = "agent.key"
	// stateFile is the config dir's JSON file with the current space.
	stateFile = "config.json"
	// spacesDir holds the private keys of spaces created with `space new`.
	spacesDir = "spaces"
	// proofsDir holds the delegations the agent was given.
	proofsDir = "proofs"
	// maxProofFile bounds a file read by `proof add`.
	maxProofFile = 4 << 20
)

// errNotHTTPURL is returned for a service URL that is not an absolute http(s) URL.
var errNotHTTPURL = errors.New("not an http(s) URL")

// clientFlags are the flags every client command takes.
type clientFlags struct {
	config  string
	url     string
	service string
	json    bool
}

// newFlags returns a flag set for a client command with --config, --url, --service and
// --json; its usage message is the usage line followed by the flags.
func newFlags(name, usage string, stderr io.Writer) (*flag.FlagSet, *clientFlags) {
	fs := flag.NewFlagSet("w3dag "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	cf := &clientFlags{}
	fs.StringVar(&cf.config, "config", "", "client config dir (default $HOME/.config/w3dag)")
	fs.StringVar(&cf.url, "url", "", "service URL (default: the url in config.json, else "+client.DefaultURL+")")
	fs.StringVar(&cf.service, "service", "", "service DID receipts must be signed by (default: the DID config.json pinned for the URL, else read from /.well-known/did.json and pinned)")
	fs.BoolVar(&cf.json, "json", false, "print DAG-JSON instead of readable text")
	return fs, cf
}

// parseFlags parses args, allowing flags after positional arguments, then fills every flag
// not given on the command line from its W3DAG_* environment twin. It returns the
// positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("environment %s=%q: %w", envName(f.Name), v, e)
			}
		}
	})
	return pos, err
}

// envName is the environment twin of a flag: "per-message" → "W3DAG_PER_MESSAGE".
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// profile is the client's config dir: the agent key, config.json, space keys and proofs.
type profile struct {
	dir string
}

// configDir is the config dir: the flag's value, else ~/.config/w3dag.
func configDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the config dir: %w (set --config or W3DAG_CONFIG)", err)
	}
	return filepath.Join(home, ".config", "w3dag"), nil
}

// serviceURL is --url, else the url saved in the config dir's config.json (read without
// creating anything), else client.DefaultURL; normalised (see normalizeURL) when it parses.
func (cf *clientFlags) serviceURL() string {
	u := client.DefaultURL
	if cf.url != "" {
		u = cf.url
	} else if dir, err := configDir(cf.config); err == nil {
		st, err := (&profile{dir: dir}).state()
		if err == nil && st.URL != "" {
			u = st.URL
		}
	}
	if n, err := normalizeURL(u); err == nil {
		return n
	}
	return u
}

// normalizeURL returns the form of a service URL that DIDs are pinned under: scheme and host
// lower case, the scheme's default port dropped, no trailing slash, no query or fragment
// ("HTTP://127.0.0.1:80/" → "http://127.0.0.1"). It fails for anything but an absolute
// http(s) URL.
func normalizeURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: %q", errNotHTTPURL, s)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%w: %q", errNotHTTPURL, s)
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	switch {
	case port != "":
		u.Host = net.JoinHostPort(host, port)
	case strings.Contains(host, ":"):
		u.Host = "[" + host + "]"
	default:
		u.Host = host
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment, u.ForceQuery = "", "", "", false
	return u.String(), nil
}

// openProfile resolves the config dir (flag, then default) and creates it if missing.
func openProfile(dir string) (*profile, error) {
	dir, err := configDir(dir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{dir, filepath.Join(dir, spacesDir), filepath.Join(dir, proofsDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating config dir: %w", err)
		}
	}
	return &profile{dir: dir}, nil
}

// agent returns the agent key, creating agent.key on first use.
func (s *profile) agent() (did.Signer, error) {
	p := filepath.Join(s.dir, agentKeyFile)
	k, err := did.ReadKeyFile(p)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading agent key %s: %w", p, err)
	}
	k, err = did.GenerateEd25519()
	if err != nil {
		return nil, fmt.Errorf("generating agent key: %w", err)
	}
	if err := did.WriteKeyFile(p, k); err != nil {
		return nil, fmt.Errorf("writing agent key %s: %w", p, err)
	}
	return k, nil
}

// state is the content of config.json.
type state struct {
	// Space is the current space DID.
	Space string `json:"space,omitempty"`
	// URL is the service URL used when --url (W3DAG_URL) is not given.
	URL string `json:"url,omitempty"`
	// Services pins the DID of each service URL used, on first use: receipts from that URL
	// must be signed by that DID from then on.
	Services map[string]string `json:"services,omitempty"`
}

func (s *profile) state() (state, error) {
	var st state
	data, err := os.ReadFile(filepath.Join(s.dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("reading %s: %w", stateFile, err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("reading %s: %w", filepath.Join(s.dir, stateFile), err)
	}
	st.normalizePins()
	return st, nil
}

// normalizePins keys every pin by its normalised URL, so pins written before URLs were
// normalised (or by hand) keep working; they are saved normalised with the next change. When
// two keys name one URL, the one already normalised wins, else the first in sorted order.
func (st *state) normalizePins() {
	keys := make([]string, 0, len(st.Services))
	for k := range st.Services {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		n, err := normalizeURL(k)
		if err != nil {
			n = k // not a URL: kept as it is, matched only literally
		}
		if _, taken := out[n]; !taken || k == n {
			out[n] = st.Services[k]
		}
	}
	if len(out) > 0 {
		st.Services = out
	}
}

func (s *profile) saveState(st state) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", stateFile, err)
	}
	return os.Rename(tmp, filepath.Join(s.dir, stateFile))
}

// addProof stores a delegation; storing one twice is harmless.
func (s *profile) addProof(t *ucan.Token) error {
	p := filepath.Join(s.dir, proofsDir, t.CID.String()+".ucan")
	if err := os.WriteFile(p, t.Raw, 0o600); err != nil {
		return fmt.Errorf("saving proof %s: %w", t.CID, err)
	}
	return nil
}

// proofs loads every stored delegation.
func (s *profile) proofs() ([]*ucan.Token, error) {
	dir := filepath.Join(s.dir, proofsDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading proofs: %w", err)
	}
	var out []*ucan.Token
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".ucan") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading proof %s: %w", e.Name(), err)
		}
		t, err := ucan.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("decoding proof %s: %w", e.Name(), err)
		}
		if t.Delegation != nil {
			out = append(out, t)
		}
	}
	return out, nil
}

// saveSpaceKey keeps a space's private key.
func (s *profile) saveSpaceKey(k did.Signer) error {
	p := filepath.Join(s.dir, spacesDir, k.DID()+".key")
	if err := did.WriteKeyFile(p, k); err != nil {
		return fmt.Errorf("saving space key: %w", err)
	}
	return nil
}

// spaces lists the DIDs of the spaces created here, sorted.
func (s *profile) spaces() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, spacesDir))
	if err != nil {
		return nil, fmt.Errorf("reading spaces: %w", err)
	}
	var out []string
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".key"); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// env is what a client command works with once its flags are parsed.
type env struct {
	flags   *clientFlags
	profile *profile
	agent   did.Signer
	state   state
	stdout  io.Writer
	stderr  io.Writer
}

// space returns the space a command works on: flag when given, else the profile's current
// space; an error names what to do when there is none, or what is wrong with flag.
func (e *env) space(flag string) (string, error) {
	sp := flag
	if sp == "" {
		sp = e.state.Space
	}
	if sp == "" {
		return "", errors.New("no space: give --space DID or run `w3dag space new`")
	}
	if _, err := did.Parse(sp); err != nil {
		return "", fmt.Errorf("--space %q: %w", sp, err)
	}
	return sp, nil
}

// openEnv opens the config dir and the agent key.
func openEnv(cf *clientFlags, stdout, stderr io.Writer) (*env, error) {
	st, err := openProfile(cf.config)
	if err != nil {
		return nil, err
	}
	agent, err := st.agent()
	if err != nil {
		return nil, err
	}
	state, err := st.state()
	if err != nil {
		return nil, err
	}
	return &env{flags: cf, profile: st, agent: agent, state: state, stdout: stdout, stderr: stderr}, nil
}

// client returns a client for the service at --url holding the stored proofs. The service
// DID is --service, else the one pinned for the URL in config.json, else the one the service
// publishes, which is then pinned (trust on first use).
func (e *env) client(ctx context.Context) (*client.Client, error) {
	proofs, err := e.profile.proofs()
	if err != nil {
		return nil, err
	}
	url := e.flags.serviceURL()
	service := e.flags.service
	if service == "" {
		service = e.state.Services[url] // serviceURL and state both normalise
	}
	if service == "" {
		if service, err = client.FetchServiceDID(ctx, nil, url); err != nil {
			return nil, err
		}
		if e.state.Services == nil {
			e.state.Services = map[string]string{}
		}
		e.state.Services[url] = service
		if err := e.profile.saveState(e.state); err != nil {
			return nil, err
		}
	}
	return client.New(client.Options{URL: url, Signer: e.agent, ServiceDID: service, Proofs: proofs})
}

// resolve turns a path given on the command line into an absolute DAG path: paths starting
// with /did: are kept, others are relative to the current space.
func (e *env) resolve(p string) (string, error) {
	if strings.HasPrefix(p, "/did:") {
		return p, nil
	}
	if strings.HasPrefix(p, "did:") {
		return "/" + p, nil
	}
	if e.state.Space == "" {
		return "", fmt.Errorf("path %q is relative but there is no current space (run `w3dag space new` or give /did:…/%s)", p, strings.TrimPrefix(p, "/"))
	}
	return "/" + e.state.Space + "/" + strings.TrimPrefix(p, "/"), nil
}

// fail prints "w3dag <cmd>: " and what went wrong (see explain), and returns exit code 1.
func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "w3dag %s: %s\n", cmd, explain(err, ""))
	return 1
}

// fail is fail for a command that talked to the service: it knows whether the service DID
// receipts are checked against came from --service or from the pin in config.json.
// Without a chain of delegations it also names the agent's delegations that are not valid
// now, the likely reason.
func (e *env) fail(cmd string, err error) int {
	msg := explain(err, e.flags.service)
	if errors.Is(err, client.ErrNoProof) {
		if proofs, perr := e.profile.proofs(); perr == nil {
			now := time.Now()
			for _, t := range proofs {
				if v := validityOf(t.Delegation, now); v.status != statusValid && t.Delegation.Audience == e.agent.DID() {
					msg += fmt.Sprintf("; your delegation %s of %s %s", t.CID, t.Delegation.Command, v.words)
				}
			}
		}
	}
	fmt.Fprintf(e.stderr, "w3dag %s: %s\n", cmd, msg)
	return 1
}

// explain is the CLI's wording of err: the cause once, then the fix when there is one. The
// errors a new user meets first — a service that is not running, a service whose key changed —
// are translated here, at the CLI's boundary; the others print as they are. serviceFlag is
// --service (empty when the service DID was pinned).
func explain(err error, serviceFlag string) string {
	var ue *client.UnreachableError
	if errors.As(err, &ue) {
		return fmt.Sprintf("cannot reach %s: is `w3dag serve` running? (%s)", ue.URL, ue.Cause())
	}
	var ws *client.WrongServiceError
	if errors.As(err, &ws) {
		if serviceFlag != "" {
			return fmt.Sprintf("receipt not issued by the service: it is signed by %s, not by %s given with --service (or W3DAG_SERVICE); give the DID the service at %s signs with",
				ws.Issuer, ws.Service, ws.URL)
		}
		return fmt.Sprintf("receipt not issued by the service: it is signed by %s, but the service DID pinned for %s is %s; if the service there was replaced and you trust the new one, run `w3dag config forget-service %s` and try again",
			ws.Issuer, ws.URL, ws.Service, ws.URL)
	}
	return err.Error()
}

// usageError prints a usage problem and returns exit code 2.
func usageError(stderr io.Writer, cmd, format string, args ...any) int {
	fmt.Fprintf(stderr, "w3dag %s: %s\n", cmd, fmt.Sprintf(format, args...))
	return 2
}
