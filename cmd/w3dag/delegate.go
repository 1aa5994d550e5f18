package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/container"
	"github.com/w3dag/w3dag/ucan/did"
)

// operations are the commands of the DAG: a delegated command must cover at least one.
var operations = []string{client.CmdPut, client.CmdGet, client.CmdRemove, client.CmdSelect}

// readOnly are the commands `delegate --read-only` grants: get (and watch, which the service
// authorises as a get) and select (ls).
var readOnly = []string{client.CmdGet, client.CmdSelect}

// runDelegate implements `w3dag delegate --to DID (--cmd CMD | --read-only) [--space DID]
// [--expires DUR] [--out FILE]`: the agent delegates CMD (or, with --read-only, /dag/get and
// /dag/select: one delegation each, as a UCAN 1.0 delegation has one command) on the space
// to DID and writes a base64 ctn-v1 container with the new delegations and the chains that
// give the agent its authority, ready for `w3dag proof add` on the other side.
func runDelegate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("delegate", "usage: w3dag delegate --to DID (--cmd CMD | --read-only) [--space DID] [--expires DUR] [--out FILE]", stderr)
	to := fs.String("to", "", "audience DID (required)")
	cmd := fs.String("cmd", "", "command delegated: "+strings.Join(coveringCommands(), ", ")+" (this or --read-only is required)")
	ro := fs.Bool("read-only", false, "delegate /dag/get (get, watch) and /dag/select (ls): two delegations in one container")
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
	if *to == "" || (*cmd == "") == !*ro {
		return usageError(stderr, "delegate", "--to and one of --cmd or --read-only are required")
	}
	if _, err := did.Parse(*to); err != nil {
		return fail(stderr, "delegate", fmt.Errorf("--to %q: %w", *to, err))
	}
	cmds := readOnly
	if !*ro {
		if err := checkDelegable(*cmd); err != nil {
			return fail(stderr, "delegate", fmt.Errorf("--cmd: %w", err))
		}
		cmds = []string{*cmd}
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
	ctn, err := delegate(e, sub, *to, cmds, *expires)
	if err != nil {
		return e.fail("delegate", err)
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

// checkDelegable returns an error unless cmd is a well-formed UCAN command that covers at
// least one operation, i.e. is a segment-wise prefix of one ("/", "/dag", "/dag/get", …): a
// delegation of any other command could never be used. The error ends with the commands
// that may be delegated.
func checkDelegable(cmd string) error {
	valid := strings.Join(coveringCommands(), ", ")
	if err := ucan.ValidateCommand(cmd); err != nil {
		return fmt.Errorf("%w; use one of %s", err, valid)
	}
	for _, op := range operations {
		if ucan.CommandCovers(cmd, op) {
			return nil
		}
	}
	return fmt.Errorf("%w %q; use one of %s", errNoOperation, cmd, valid)
}

// errNoOperation is returned for a --cmd that covers no operation of the service.
var errNoOperation = errors.New("no w3dag operation is covered by")

// coveringCommands lists every command that covers an operation: "/", then each segment-wise
// prefix of the operations ("/dag", "/dag/put", …), in order of first appearance.
func coveringCommands() []string {
	out := []string{"/"}
	seen := map[string]bool{"/": true}
	for _, op := range operations {
		for i := 1; i <= len(op); i++ {
			if i == len(op) || op[i] == '/' {
				if p := op[:i]; !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// delegate seals one delegation of each of cmds on sub to to, and returns them in a
// container with the chains (deduplicated) that give the agent its authority.
func delegate(e *env, sub, to string, cmds []string, expires time.Duration) ([]byte, error) {
	proofs, err := e.profile.proofs()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var tokens, chains [][]byte
	seen := map[string]bool{}
	for _, cmd := range cmds {
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
			return nil, fmt.Errorf("sealing delegation of %s: %w", cmd, err)
		}
		tokens = append(tokens, tok.Raw)
		for _, p := range chain {
			if k := p.CID.KeyString(); !seen[k] {
				seen[k] = true
				chains = append(chains, p.Raw)
			}
		}
	}
	return container.Encode(container.HeaderBase64, append(tokens, chains...))
}
