package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/container"
	"github.com/w3dag/w3dag/ucan/did"
)

// runDelegate implements `w3dag delegate --to DID --cmd CMD [--space DID] [--expires DUR]
// [--out FILE]`: the agent delegates CMD on the space to DID and writes a base64 ctn-v1
// container with the new delegation and the chain that gives the agent its authority, ready
// for `w3dag proof add` on the other side.
func runDelegate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("delegate", "usage: w3dag delegate --to DID --cmd CMD [--space DID] [--expires DUR] [--out FILE]", stderr)
	to := fs.String("to", "", "audience DID (required)")
	cmd := fs.String("cmd", "", "command delegated, e.g. /dag or /dag/get (required)")
	space := fs.String("space", "", "space DID (default: the current space)")
	expires := fs.Duration("expires", 0, "lifetime of the delegation, e.g. 24h (default: never expires)")
	out := fs.String("out", "", "file to write the container to (default: stdout)")
	pos, code, ok := parseArgs(fs, args, 0, manyArgs)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		return usageError(stderr, "delegate", "unexpected argument %q", pos[0])
	}
	if *to == "" || *cmd == "" {
		return usageError(stderr, "delegate", "--to and --cmd are required")
	}
	if _, err := did.Parse(*to); err != nil {
		return fail(stderr, "delegate", fmt.Errorf("--to %q: %w", *to, err))
	}
	if err := ucan.ValidateCommand(*cmd); err != nil {
		return fail(stderr, "delegate", fmt.Errorf("--cmd %q: %w", *cmd, err))
	}
	if *expires < 0 {
		return usageError(stderr, "delegate", "--expires must be positive")
	}
	e, err := openEnv(cf, stdout, stderr)
	if err != nil {
		return fail(stderr, "delegate", err)
	}
	sub := *space
	if sub == "" {
		sub = e.state.Space
	}
	if sub == "" {
		return fail(stderr, "delegate", fmt.Errorf("no space: give --space or run `w3dag space new`"))
	}
	ctn, err := delegate(e, sub, *to, *cmd, *expires)
	if err != nil {
		return fail(stderr, "delegate", err)
	}
	if *out == "" {
		fmt.Fprintln(stdout, string(ctn))
		return 0
	}
	if err := os.WriteFile(*out, append(ctn, '\n'), 0o600); err != nil {
		return fail(stderr, "delegate", err)
	}
	return 0
}

// delegate builds the delegation and its container.
func delegate(e *env, sub, to, cmd string, expires time.Duration) ([]byte, error) {
	proofs, err := e.store.proofs()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	chain, err := client.FindChain(proofs, sub, e.agent.DID(), cmd, now.Unix())
	if err != nil {
		return nil, err
	}
	d := &ucan.Delegation{
		Issuer:   e.agent.DID(),
		Audience: to,
		Subject:  sub,
		Command:  cmd,
		Nonce:    ucan.NewNonce(),
	}
	if expires > 0 {
		exp := now.Add(expires).Unix()
		d.Expiration = &exp
	}
	tok, err := d.Seal(e.agent, ucan.SealOptions{})
	if err != nil {
		return nil, fmt.Errorf("sealing delegation: %w", err)
	}
	tokens := [][]byte{tok.Raw}
	for _, p := range chain {
		tokens = append(tokens, p.Raw)
	}
	return container.Encode(container.HeaderBase64, tokens)
}
