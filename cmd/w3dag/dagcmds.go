package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/client"
)

// maxValueSize bounds a VALUE read from stdin (the service's put value limit).
const maxValueSize = 1 << 20

// runPut implements `w3dag put PATH VALUE` (VALUE is DAG-JSON; - reads it from stdin).
func runPut(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("put", "usage: w3dag put PATH VALUE   (VALUE is DAG-JSON, - for stdin)", stderr)
	pos, code, ok := parseArgs(fs, args, 2, 2)
	if !ok {
		return code
	}
	value, err := parseValue(pos[1])
	if err != nil {
		return fail(stderr, "put", err)
	}
	return dagOp(ctx, cf, stdout, stderr, "put", pos[0], func(c *client.Client, p string) (*client.Receipt, error) {
		return c.Put(ctx, p, value)
	})
}

// runGet implements `w3dag get PATH`.
func runGet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("get", "usage: w3dag get PATH", stderr)
	pos, code, ok := parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	return dagOp(ctx, cf, stdout, stderr, "get", pos[0], func(c *client.Client, p string) (*client.Receipt, error) {
		return c.Get(ctx, p)
	})
}

// runRm implements `w3dag rm PATH`.
func runRm(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("rm", "usage: w3dag rm PATH", stderr)
	pos, code, ok := parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	return dagOp(ctx, cf, stdout, stderr, "rm", pos[0], func(c *client.Client, p string) (*client.Receipt, error) {
		return c.Remove(ctx, p)
	})
}

// dagOp runs one single-receipt command and prints its receipt; an error receipt is printed
// too (to stdout with --json) and ends with exit code 1.
func dagOp(ctx context.Context, cf *clientFlags, stdout, stderr io.Writer, name, path string, op func(*client.Client, string) (*client.Receipt, error)) int {
	e, err := openEnv(cf, stdout, stderr)
	if err != nil {
		return fail(stderr, name, err)
	}
	p, err := e.resolve(path)
	if err != nil {
		return e.fail(name, err)
	}
	c, err := e.client(ctx)
	if err != nil {
		return e.fail(name, err)
	}
	r, err := op(c, p)
	var re *client.ReceiptError
	if errors.As(err, &re) && cf.json && re.Receipt != nil {
		printReceipt(stdout, re.Receipt, true)
	}
	if err != nil {
		return e.fail(name, err)
	}
	printReceipt(stdout, r, cf.json)
	return 0
}

// parseValue decodes a DAG-JSON value from the command line ("-" reads stdin).
func parseValue(s string) (datamodel.Node, error) {
	var r io.Reader = strings.NewReader(s)
	if s == "-" {
		r = io.LimitReader(os.Stdin, maxValueSize+1)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading VALUE: %w", err)
	}
	if len(data) > maxValueSize {
		return nil, fmt.Errorf("VALUE is larger than %d bytes", maxValueSize)
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagjson.Decode(nb, strings.NewReader(string(data))); err != nil {
		var ic cid.ErrInvalidCid
		if errors.As(err, &ic) {
			return nil, fmt.Errorf("VALUE is not DAG-JSON: a link {\"/\": …} does not hold a CID (%w)", cidCause(err))
		}
		return nil, fmt.Errorf("VALUE is not DAG-JSON: %w", err)
	}
	return nb.Build(), nil
}

// runLs implements `w3dag ls PATH [--limit N] [--all] [--status S] [--cursor C]`: a page of
// a collection, or every page with --all.
func runLs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("ls", "usage: w3dag ls COLLECTION-PATH [--limit N] [--all] [--status S] [--cursor C]", stderr)
	limit := fs.Int("limit", 0, "entries per page, at most 1000 (default: the service's page size)")
	all := fs.Bool("all", false, "follow the cursor through every page")
	status := fs.String("status", "", "only entries in this state, e.g. done")
	cursor := fs.String("cursor", "", "start after this cursor (printed after a page)")
	pos, code, ok := parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	if *limit < 0 || *limit > client.MaxSelectLimit {
		return usageError(stderr, "ls", "--limit must be between 1 and %d", client.MaxSelectLimit)
	}
	e, err := openEnv(cf, stdout, stderr)
	if err != nil {
		return fail(stderr, "ls", err)
	}
	p, err := e.resolve(pos[0])
	if err != nil {
		return e.fail("ls", err)
	}
	c, err := e.client(ctx)
	if err != nil {
		return e.fail("ls", err)
	}
	q := client.Query{Limit: *limit, Cursor: *cursor, Status: *status}
	for {
		page, err := c.Select(ctx, p, q)
		if err != nil {
			return e.fail("ls", err)
		}
		printPage(stdout, page, cf.json)
		if !*all || page.Cursor == "" || len(page.Entries) == 0 {
			if !*all && page.Cursor != "" && !cf.json {
				fmt.Fprintf(stdout, "# more: --cursor %s\n", page.Cursor)
			}
			return 0
		}
		q.Cursor = page.Cursor
	}
}

func printPage(w io.Writer, p *client.Page, asJSON bool) {
	if asJSON {
		fmt.Fprintln(w, dagJSON(pageNode(p)))
		return
	}
	for _, e := range p.Entries {
		name := e.Key
		if name == "" {
			name = e.Path
		}
		if name == "" {
			name = dagJSON(e.Node)
		}
		head := ""
		if e.Head.Defined() {
			head = e.Head.String()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", name, e.Status, head)
	}
}

// pageNode is the DAG-JSON form of a page printed with --json: {entries: [{key, head, state}],
// cursor?, receipt}.
func pageNode(p *client.Page) datamodel.Node {
	nb := basicnode.Prototype.Map.NewBuilder()
	ma, _ := nb.BeginMap(-1)
	_ = ma.AssembleKey().AssignString("entries")
	la, _ := ma.AssembleValue().BeginList(int64(len(p.Entries)))
	for _, e := range p.Entries {
		_ = la.AssembleValue().AssignNode(e.Node)
	}
	_ = la.Finish()
	if p.Cursor != "" {
		_ = ma.AssembleKey().AssignString("cursor")
		_ = ma.AssembleValue().AssignString(p.Cursor)
	}
	if p.Receipt != nil {
		_ = ma.AssembleKey().AssignString("receipt")
		_ = ma.AssembleValue().AssignLink(cidlink.Link{Cid: p.Receipt.CID})
	}
	_ = ma.Finish()
	return nb.Build()
}
