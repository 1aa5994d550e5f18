package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/client"
)

// runReceipt implements `w3dag receipt CID|PATH [--chain] [--fx]`: fetch a receipt (and with
// --chain every receipt before it through origin links; with --fx also the receipts of the
// invocations in each one's fx, their chains and their effects), verify each and print it.
// Given a path instead of a CID it starts from the entry's head receipt.
func runReceipt(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("receipt", "usage: w3dag receipt CID|PATH [--chain] [--fx]", stderr)
	chain := fs.Bool("chain", false, "follow origin links back to the first receipt of the entry")
	effects := fs.Bool("fx", false, "follow effects too: the receipt of each invocation in a receipt's fx, with its chain and effects (implies --chain)")
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
	if *effects {
		steps, err := c.ChainFx(ctx, rc)
		if err != nil {
			return e.fail("receipt", err)
		}
		for i, st := range steps {
			if i > 0 && !cf.json {
				fmt.Fprintln(stdout)
			}
			printStep(stdout, st, cf.json)
		}
		return 0
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

// printStep prints one step of `receipt --fx`. Text: an effect's first receipt is preceded
// by "effect <invocation> of <receipt>", a receipt's fx follow it, a receipt printed
// before is named only. JSON, one line a step: the receipt's DAG-JSON (receiptNode) with
// "effect" and "cause" links when reached through an effect and "known": true when
// printed before; an effect without a receipt yet is {"effect", "cause", "pending": true}.
func printStep(w io.Writer, st client.Step, asJSON bool) {
	if asJSON {
		n, err := qp.BuildMap(basicnode.Prototype.Map, -1, func(ma datamodel.MapAssembler) {
			if st.Receipt != nil {
				it := receiptNode(st.Receipt).MapIterator()
				for !it.Done() {
					k, v, err := it.Next()
					if err != nil {
						return
					}
					ks, _ := k.AsString()
					qp.MapEntry(ma, ks, qp.Node(v))
				}
			}
			if st.Effect.Defined() {
				qp.MapEntry(ma, "effect", qp.Link(cidlink.Link{Cid: st.Effect}))
				qp.MapEntry(ma, "cause", qp.Link(cidlink.Link{Cid: st.Cause}))
			}
			if st.Receipt == nil {
				qp.MapEntry(ma, "pending", qp.Bool(true))
			}
			if st.Known {
				qp.MapEntry(ma, "known", qp.Bool(true))
			}
		})
		if err != nil {
			fmt.Fprintf(w, "<unprintable: %v>\n", err)
			return
		}
		fmt.Fprintln(w, dagJSON(n))
		return
	}
	if st.Effect.Defined() {
		fmt.Fprintf(w, "effect   %s of %s\n", st.Effect, st.Cause)
	}
	switch {
	case st.Receipt == nil:
		fmt.Fprintln(w, "         no receipt yet (a task not run yet, or one that records none)")
	case st.Known:
		fmt.Fprintf(w, "receipt  %s (above)\n", st.Receipt.CID)
	default:
		printReceipt(w, st.Receipt, false)
		for _, fx := range st.Receipt.Fx {
			fmt.Fprintf(w, "fx       %s\n", fx)
		}
	}
}
