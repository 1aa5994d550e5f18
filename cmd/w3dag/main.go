// Command w3dag is the w3dag server and its command-line client.
//
// Each sub-command lives in its own file as a func with the signature of command.run;
// the table in commands lists them. This file is the composition root's entry point.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one sub-command of w3dag.
type command struct {
	// summary is the one-line description shown by `w3dag help`.
	summary string
	// run executes the command with the arguments after its name. It returns the process
	// exit code; errors are printed to stderr by run itself.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands is the table of sub-commands. Files add to it only through this literal.
var commands = map[string]command{
	"store":       {summary: "store a CAR file in a space (put, upload the bytes, confirm)", run: runStore},
	"config":      {summary: "show the client config, or save the service URL", run: runConfig},
	"serve":       {summary: "run the w3dag service (HTTP API over the DAG)", run: runServe},
	"conformance": {summary: "run the protocol conformance suite against a service", run: runConformance},
	"bench":       {summary: "measure dag/put invocations per second and latency over HTTP", run: runBench},
	"receipt":     {summary: "fetch and verify a receipt (and its chain)", run: runReceipt},
	"watch":       {summary: "follow receipts under a path as they are committed", run: runWatch},
	"ls":          {summary: "list the entries of a collection", run: runLs},
	"rm":          {summary: "remove an entry", run: runRm},
	"get":         {summary: "get an entry (or a field of it)", run: runGet},
	"put":         {summary: "put a DAG-JSON value at a path", run: runPut},
	"proof":       {summary: "add and list delegations the agent holds", run: runProof},
	"delegate":    {summary: "delegate a command on a space to another DID", run: runDelegate},
	"space":       {summary: "create, choose and list spaces", run: runSpace},
	"key":         {summary: "create or show the agent key", run: runKey},
	"token":       {summary: "inspect and verify UCAN tokens", run: runToken},
	"usage":       {summary: "usage of a space over a window: sizes, exact byte·ms, records", run: runUsage},
	"piece":       {summary: "compute the Filecoin piece CID (commP, v2 and v1) of files, offline", run: runPiece},
	"aggregate":   {summary: "place pieces in an FRC-0058 deal: aggregate piece CID, offsets, inclusion proofs", run: runAggregate},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "w3dag: unknown command %q (see `w3dag help`)\n", args[0])
		return 2
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: w3dag <command> [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-12s %s\n", name, commands[name].summary)
	}
}
