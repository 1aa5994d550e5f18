package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// runConfig implements `w3dag config` (print the client's state), `w3dag config url URL`
// (save the service URL used when --url and W3DAG_URL are not given; "" clears it) and
// `w3dag config forget-service [URL]` (drop the service DID pinned for URL, default the
// current one, so the next command pins the DID the service publishes).
func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("config", "usage: w3dag config | w3dag config url URL | w3dag config forget-service [URL]", stderr)
	pos, code, ok := parseArgs(fs, args, 0, manyArgs)
	if !ok {
		return code
	}
	e, err := openEnv(cf, stdout, stderr)
	if err != nil {
		return fail(stderr, "config", err)
	}
	switch {
	case len(pos) == 0:
	case len(pos) == 2 && pos[0] == "url":
		u := pos[1]
		if u != "" {
			if u, err = normalizeURL(u); err != nil {
				return fail(stderr, "config url", err)
			}
		}
		e.state.URL = u
		if err := e.profile.saveState(e.state); err != nil {
			return fail(stderr, "config url", err)
		}
	case (len(pos) == 1 || len(pos) == 2) && pos[0] == "forget-service":
		u := cf.serviceURL()
		if len(pos) == 2 {
			if u, err = normalizeURL(pos[1]); err != nil {
				return fail(stderr, "config forget-service", err)
			}
		}
		return forgetService(e, u)
	default:
		fs.Usage()
		return 2
	}
	u := cf.serviceURL()
	service := cf.service
	if service == "" {
		service = e.state.Services[u]
	}
	info := struct {
		Dir     string `json:"dir"`
		Agent   string `json:"agent"`
		Space   string `json:"space"`
		URL     string `json:"url"`
		Service string `json:"service"`
	}{e.profile.dir, e.agent.DID(), e.state.Space, u, service}
	if cf.json {
		b, _ := json.Marshal(info)
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	space := info.Space
	if space == "" {
		space = "(none: run `w3dag space new`)"
	}
	if service == "" {
		service = "(not pinned yet: pinned on first use)"
	}
	fmt.Fprintf(stdout, "config  %s\nagent   %s\nspace   %s\nurl     %s\nservice %s\n", info.Dir, info.Agent, space, info.URL, service)
	return 0
}

// forgetService removes the service DID pinned for the normalised URL u and says what it
// did; forgetting a URL with no pin is not an error (the URLs that have one are listed).
func forgetService(e *env, u string) int {
	did, pinned := e.state.Services[u]
	if pinned {
		delete(e.state.Services, u)
		if err := e.profile.saveState(e.state); err != nil {
			return fail(e.stderr, "config forget-service", err)
		}
	}
	if e.flags.json {
		out := struct {
			URL    string  `json:"url"`
			Forgot *string `json:"forgot"`
		}{URL: u}
		if pinned {
			out.Forgot = &did
		}
		b, _ := json.Marshal(out)
		fmt.Fprintln(e.stdout, string(b))
		return 0
	}
	if pinned {
		fmt.Fprintf(e.stdout, "forgot %s for %s: the next command pins the DID the service there publishes\n", did, u)
		return 0
	}
	others := make([]string, 0, len(e.state.Services))
	for k := range e.state.Services {
		others = append(others, k)
	}
	sort.Strings(others)
	fmt.Fprintf(e.stdout, "no service DID is pinned for %s", u)
	if len(others) > 0 {
		fmt.Fprintf(e.stdout, " (pinned: %s)", strings.Join(others, ", "))
	}
	fmt.Fprintln(e.stdout)
	return 0
}
