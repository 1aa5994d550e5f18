package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// runSpace implements `w3dag space new|use|ls`.
func runSpace(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("space", "usage: w3dag space new | w3dag space use DID | w3dag space ls", stderr)
	pos, code, ok := parseArgs(fs, args, 1, manyArgs)
	if !ok {
		return code
	}
	e, err := openEnv(cf, stdout, stderr)
	if err != nil {
		return fail(stderr, "space", err)
	}
	switch pos[0] {
	case "new":
		if len(pos) != 1 {
			return usageError(stderr, "space new", "takes no arguments")
		}
		space, err := newSpace(e)
		if err != nil {
			return fail(stderr, "space new", err)
		}
		printDID(stdout, space, cf.json)
	case "use":
		if len(pos) != 2 {
			return usageError(stderr, "space use", "want one space DID")
		}
		if _, err := did.Parse(pos[1]); err != nil {
			return fail(stderr, "space use", fmt.Errorf("%q is not a did:key: %w", pos[1], err))
		}
		e.state.Space = pos[1]
		if err := e.profile.saveState(e.state); err != nil {
			return fail(stderr, "space use", err)
		}
		printDID(stdout, pos[1], cf.json)
	case "ls":
		spaces, err := e.profile.spaces()
		if err != nil {
			return fail(stderr, "space ls", err)
		}
		// Spaces delegated to the agent count too.
		proofs, err := e.profile.proofs()
		if err != nil {
			return fail(stderr, "space ls", err)
		}
		for _, p := range proofs {
			if s := p.Delegation.Subject; s != "" && p.Delegation.Audience == e.agent.DID() && !slices.Contains(spaces, s) {
				spaces = append(spaces, s)
			}
		}
		slices.Sort(spaces)
		for _, s := range spaces {
			switch {
			case cf.json:
				b, _ := json.Marshal(map[string]any{"did": s, "current": s == e.state.Space})
				fmt.Fprintln(stdout, string(b))
			case s == e.state.Space:
				fmt.Fprintf(stdout, "* %s\n", s)
			default:
				fmt.Fprintf(stdout, "  %s\n", s)
			}
		}
	default:
		return usageError(stderr, "space", "unknown sub-command %q (want new, use or ls)", pos[0])
	}
	return 0
}

// newSpace creates a space key, keeps it, delegates every command on the space to the agent,
// stores that proof and makes the space current. It returns the space DID.
func newSpace(e *env) (string, error) {
	key, err := did.GenerateEd25519()
	if err != nil {
		return "", fmt.Errorf("generating space key: %w", err)
	}
	if err := e.profile.saveSpaceKey(key); err != nil {
		return "", err
	}
	d := &ucan.Delegation{
		Issuer:   key.DID(),
		Audience: e.agent.DID(),
		Subject:  key.DID(),
		Command:  "/",
		Nonce:    ucan.NewNonce(),
	}
	tok, err := d.Seal(key, ucan.SealOptions{})
	if err != nil {
		return "", fmt.Errorf("delegating the space to the agent: %w", err)
	}
	if err := e.profile.addProof(tok); err != nil {
		return "", err
	}
	e.state.Space = key.DID()
	if err := e.profile.saveState(e.state); err != nil {
		return "", err
	}
	return key.DID(), nil
}
