package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ipfs/go-cid"
)

// runReceipt implements `w3dag receipt CID|PATH [--chain]`: fetch a receipt (and with --chain
// every receipt before it through origin links), verify each and print it. Given a path
// instead of a CID it starts from the entry's head receipt.
func runReceipt(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("receipt", "usage: w3dag receipt CID|PATH [--chain]", stderr)
	chain := fs.Bool("chain", false, "follow origin links back to the first receipt of the entry")
	pos, code, ok := parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	rc, cidErr := cid.Decode(pos[0])
	if cidErr != nil && !strings.Contains(pos[0], "/") {
		return fail(stderr, "receipt", fmt.Errorf("%q is neither a CID nor a path (%w)", pos[0], cidCause(cidErr)))
	}
	e, err := openEnv(cf, stdout, stderr)
	if err != nil {
		return fail(stderr, "receipt", err)
	}
	var p string
	if cidErr != nil {
		if p, err = e.resolve(pos[0]); err != nil {
			return e.fail("receipt", err)
		}
	}
	c, err := e.client(ctx)
	if err != nil {
		return e.fail("receipt", err)
	}
	if p != "" {
		head, err := c.Get(ctx, p)
		if err != nil {
			return e.fail("receipt", err)
		}
		rc = head.Head()
	}
	if !*chain {
		r, err := c.Receipt(ctx, rc)
		if err != nil {
			return e.fail("receipt", err)
		}
		printReceipt(stdout, r, cf.json)
		return 0
	}
	rs, err := c.Chain(ctx, rc)
	if err != nil {
		return e.fail("receipt", err)
	}
	for i, r := range rs {
		if i > 0 && !cf.json {
			fmt.Fprintln(stdout)
		}
		printReceipt(stdout, r, cf.json)
	}
	return 0
}

// cidCause returns the cause of a go-cid parse error: go-cid wraps it in "invalid cid: " at
// every level it passes through ("invalid cid: invalid cid: varints malformed…"), so the
// cause is the innermost error that is not a cid.ErrInvalidCid.
func cidCause(err error) error {
	for {
		var ic cid.ErrInvalidCid
		if !errors.As(err, &ic) || ic.Err == nil {
			return err
		}
		err = ic.Err
	}
}
