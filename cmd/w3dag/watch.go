package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/w3dag/w3dag/client"
)

// runWatch implements `w3dag watch PATH [--last-id ID] [--count N] [--timeout D]`: print the
// receipts of changes under PATH as they are committed, reconnecting when the stream drops.
func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("watch", "usage: w3dag watch PATH [--last-id ID] [--count N] [--timeout D]", stderr)
	lastID := fs.String("last-id", "", "resume after this event id (0 replays from the start)")
	count := fs.Int("count", 0, "stop after N events (default: run until interrupted)")
	timeout := fs.Duration("timeout", 0, "stop after this long (default: run until interrupted)")
	pos, code, ok := parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	if *count < 0 || *timeout < 0 {
		return usageError(stderr, "watch", "--count and --timeout must not be negative")
	}
	e, err := openEnv(cf, stdout, stderr)
	if err != nil {
		return fail(stderr, "watch", err)
	}
	p, err := e.resolve(pos[0])
	if err != nil {
		return e.fail("watch", err)
	}
	c, err := e.client(ctx)
	if err != nil {
		return e.fail("watch", err)
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	n := 0
	err = c.Watch(ctx, p, *lastID, func(ev client.Event) error {
		printEvent(stdout, ev, cf.json)
		n++
		if *count > 0 && n >= *count {
			return client.ErrStop
		}
		return nil
	})
	if err != nil && !(*timeout > 0 && errors.Is(err, context.DeadlineExceeded)) && !errors.Is(err, context.Canceled) {
		return e.fail("watch", err)
	}
	return 0
}

func printEvent(w io.Writer, ev client.Event, asJSON bool) {
	switch {
	case asJSON && ev.Receipt != nil:
		fmt.Fprintln(w, dagJSON(receiptNode(ev.Receipt)))
	case asJSON:
		fmt.Fprintln(w, string(ev.Data))
	case ev.Receipt != nil:
		r := ev.Receipt
		what := r.Status()
		if r.Error != nil {
			what = r.Error.Name
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", ev.ID, r.Path, what, r.CID)
	case ev.ReceiptCID.Defined():
		fmt.Fprintf(w, "%s\t%s\t%s\n", ev.ID, ev.Path, ev.ReceiptCID)
	default:
		fmt.Fprintf(w, "%s\t%s\n", ev.ID, ev.Data)
	}
}
