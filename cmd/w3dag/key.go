package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/w3dag/w3dag/ucan/did"
)

// runKey implements `w3dag key new|show`: the agent key of the config dir.
func runKey(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("key", "usage: w3dag key new [--force] | w3dag key show", stderr)
	force := fs.Bool("force", false, "key new: replace an existing agent key (its proofs stay but no longer apply)")
	pos, code, ok := parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	st, err := openProfile(cf.config)
	if err != nil {
		return fail(stderr, "key", err)
	}
	p := filepath.Join(st.dir, agentKeyFile)
	switch pos[0] {
	case "new":
		if _, err := os.Stat(p); err == nil {
			if !*force {
				return fail(stderr, "key new", fmt.Errorf("agent key %s already exists (use --force to replace it)", p))
			}
			if err := os.Remove(p); err != nil {
				return fail(stderr, "key new", err)
			}
		}
		k, err := did.GenerateEd25519()
		if err != nil {
			return fail(stderr, "key new", err)
		}
		if err := did.WriteKeyFile(p, k); err != nil {
			return fail(stderr, "key new", err)
		}
		printDID(stdout, k.DID(), cf.json)
	case "show":
		k, err := st.agent()
		if err != nil {
			return fail(stderr, "key show", err)
		}
		printDID(stdout, k.DID(), cf.json)
	default:
		return usageError(stderr, "key", "unknown sub-command %q (want new or show)", pos[0])
	}
	return 0
}

func printDID(w io.Writer, d string, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(map[string]string{"did": d})
		fmt.Fprintln(w, string(b))
		return
	}
	fmt.Fprintln(w, d)
}
