package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/container"
)

// runProof implements `w3dag proof add FILE` (FILE "-" is stdin) and `w3dag proof ls`.
func runProof(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("proof", "usage: w3dag proof add FILE | w3dag proof ls", stderr)
	pos, code, ok := parseArgs(fs, args, 1, manyArgs)
	if !ok {
		return code
	}
	e, err := openEnv(cf, stdout, stderr)
	if err != nil {
		return fail(stderr, "proof", err)
	}
	switch pos[0] {
	case "add":
		if len(pos) != 2 {
			return usageError(stderr, "proof add", "want one FILE (a ctn-v1 container or a raw token; - for stdin)")
		}
		tokens, err := readProofFile(pos[1])
		if err != nil {
			return fail(stderr, "proof add", err)
		}
		for _, t := range tokens {
			if err := e.store.addProof(t); err != nil {
				return fail(stderr, "proof add", err)
			}
			printDelegation(stdout, t, cf.json)
		}
		// A first delegation to this agent makes its space the current one.
		if e.state.Space == "" {
			for _, t := range tokens {
				if d := t.Delegation; d.Audience == e.agent.DID() && d.Subject != "" {
					e.state.Space = d.Subject
					if err := e.store.saveState(e.state); err != nil {
						return fail(stderr, "proof add", err)
					}
					break
				}
			}
		}
	case "ls":
		proofs, err := e.store.proofs()
		if err != nil {
			return fail(stderr, "proof ls", err)
		}
		for _, t := range proofs {
			printDelegation(stdout, t, cf.json)
		}
	default:
		return usageError(stderr, "proof", "unknown sub-command %q (want add or ls)", pos[0])
	}
	return 0
}

// readProofFile reads delegations from a ctn-v1 container (any header) or one raw token and
// checks each one's signature.
func readProofFile(name string) ([]*ucan.Token, error) {
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxProofFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxProofFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxProofFile)
	}
	var raws [][]byte
	if t, err := ucan.Decode(data); err == nil {
		raws = [][]byte{t.Raw}
	} else if ctn, cerr := container.Decode(bytes.TrimSpace(data)); cerr == nil {
		raws = ctn
	} else {
		return nil, fmt.Errorf("%s is neither a ctn-v1 container (%v) nor a UCAN token (%v)", name, cerr, err)
	}
	if len(raws) == 0 {
		return nil, errors.New(name + " holds no tokens")
	}
	var out []*ucan.Token
	for _, raw := range raws {
		t, err := ucan.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if t.Delegation == nil {
			continue // invocations are not proofs
		}
		if err := t.VerifySignature(); err != nil {
			return nil, fmt.Errorf("%s: delegation %s: %w", name, t.CID, err)
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, errors.New(name + " holds no delegations")
	}
	return out, nil
}

func printDelegation(w io.Writer, t *ucan.Token, asJSON bool) {
	d := t.Delegation
	if asJSON {
		var sub *string
		if d.Subject != "" {
			sub = &d.Subject
		}
		b, _ := json.Marshal(struct {
			CID map[string]string `json:"cid"`
			Iss string            `json:"iss"`
			Aud string            `json:"aud"`
			Sub *string           `json:"sub"`
			Cmd string            `json:"cmd"`
			Exp *int64            `json:"exp"`
		}{map[string]string{"/": t.CID.String()}, d.Issuer, d.Audience, sub, d.Command, d.Expiration})
		fmt.Fprintln(w, string(b))
		return
	}
	sub := d.Subject
	if sub == "" {
		sub = "(any)"
	}
	exp := "never"
	if d.Expiration != nil {
		exp = time.Unix(*d.Expiration, 0).UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "%s  %s → %s  cmd %s  sub %s  expires %s\n", t.CID, d.Issuer, d.Audience, d.Command, sub, exp)
}
