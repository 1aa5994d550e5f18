package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
)

// runConfig implements `w3dag config` (print the client's state) and `w3dag config url URL`
// (save the service URL used when --url and W3DAG_URL are not given; "" clears it).
func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("config", "usage: w3dag config | w3dag config url URL", stderr)
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
		if pos[1] != "" {
			u, err := url.Parse(pos[1])
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fail(stderr, "config url", fmt.Errorf("%q is not an http(s) URL", pos[1]))
			}
		}
		e.state.URL = pos[1]
		if err := e.store.saveState(e.state); err != nil {
			return fail(stderr, "config url", err)
		}
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
	}{e.store.dir, e.agent.DID(), e.state.Space, u, service}
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
