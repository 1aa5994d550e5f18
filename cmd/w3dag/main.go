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
	"up":          {summary: "store files and directories as UnixFS in CAR shards, then put the upload entry", run: runUp},
	"down":        {summary: "fetch a file or directory by CID through /ipfs/, verifying every block", run: runDown},
	"config":      {summary: "show the client config, save the service URL, forget a pinned service DID", run: runConfig},
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
	"delegate":    {summary: "delegate a command (or read-only access) on a space to another DID", run: runDelegate},
	"space":       {summary: "create, choose and list spaces", run: runSpace},
	"key":         {summary: "create or show the agent key", run: runKey},
	"token":       {summary: "inspect and verify UCAN tokens", run: runToken},
	"usage":       {summary: "usage of a space over a window: sizes, exact byte·ms, records", run: runUsage},
	"version":     {summary: "print the version of w3dag (also --version)", run: runVersion},
	"schema":      {summary: "list the service's collections and schema (GET /schema)", run: runSchema},
	"piece":       {summary: "compute the Filecoin piece CID (commP, v2 and v1) of files, offline", run: runPiece},
	"aggregate":   {summary: "place pieces in an FRC-0058 deal: aggregate piece CID, offsets, inclusion proofs", run: runAggregate},
	"filecoin":    {summary: "show a stored CAR's piece, its aggregate, its inclusion proof (verified here) and deal", run: runFilecoin},
	"broker":      {summary: "run a verifying deal-broker simulator: checks offered pieces and aggregates, reports deals", run: runBroker},
	"logs":        {summary: "export the commit log as partitioned JSON logs to blob storage (docs/logs.md)", run: runLogs},
	"compact":     {summary: "give a stopped service's bolt file (w3dag.db) its free pages back", run: runCompact},
	"replay":      {summary: "rebuild a service's state from its message archive alone, receipt for receipt", run: runReplay},
	"verify":      {summary: "replay the archive and compare the rebuilt state with a live one: first difference or identical", run: runVerify},
}

// examples are the example command lines `w3dag <command> -h` shows, at least one for each
// command. (In a map of their own, so the table above stays one line a command.)
var examples = map[string][]string{
	"store":       {"w3dag store docs/examples/hello.car"},
	"up":          {"w3dag up photos/", "w3dag up --no-wrap video.mp4 --shard-size 67108864 --parallel 4", "w3dag up --dry-run notes.txt"},
	"down":        {"w3dag down bafybei…", "w3dag down bafybei…/photos/cat.jpg -o cat.jpg"},
	"config":      {"w3dag config", "w3dag config url https://w3dag.example.org", "w3dag config forget-service http://127.0.0.1:8080"},
	"serve":       {"w3dag serve --schema docs/examples/pins.ipldsch", "w3dag serve --listen 0.0.0.0:8080 --public-url https://w3dag.example.org"},
	"conformance": {"w3dag conformance --url http://127.0.0.1:8080"},
	"bench":       {"w3dag bench --concurrency 32", "w3dag bench --per-message 100 --duration 10s"},
	"receipt":     {"w3dag receipt --chain pins/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", "w3dag receipt bafyreih…"},
	"watch":       {"w3dag watch pins --last-id 0 --count 3", "w3dag watch upload --timeout 1m"},
	"ls":          {"w3dag ls pins", "w3dag ls store --status done --all"},
	"rm":          {"w3dag rm pins/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"},
	"get":         {"w3dag get pins/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", "w3dag get pins/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy/value/name"},
	"put":         {`w3dag put pins/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy '{"root": {"/": "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"}}'`, "w3dag put pins/bafk… - < value.json"},
	"proof":       {"w3dag proof add friend.ucan", "w3dag proof ls"},
	"delegate":    {"w3dag delegate --to did:key:z6Mk… --read-only --expires 24h --out friend.ucan", "w3dag delegate --to did:key:z6Mk… --cmd /dag/put"},
	"space":       {"w3dag space new", "w3dag space use did:key:z6Mk…", "w3dag space ls"},
	"key":         {"w3dag key new", "w3dag key show"},
	"token":       {"w3dag token inspect friend.ucan", "w3dag token verify invocation.ucan --proof friend.ucan"},
	"usage":       {"w3dag usage", "w3dag usage --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z --json"},
	"version":     {"w3dag version", "w3dag --version --json"},
	"schema":      {"w3dag schema", "w3dag schema --json", "w3dag schema --source"},
	"piece":       {"w3dag piece upload.car", "w3dag piece --json - < upload.car"},
	"aggregate":   {"w3dag aggregate --deal-size 32GiB --index-out index.bin a.car b.car", "w3dag aggregate --deal-size 1MiB bafkzcib…"},
	"filecoin":    {"w3dag filecoin info bagbaieral…", "w3dag filecoin info --json bagbaieral…"},
	"compact":     {"w3dag compact --data ./w3dag-data"},
	"logs":        {"w3dag logs export --data ./w3dag-data", "w3dag logs export --kv postgres://… --blob s3 --s3-url http://KEY:SECRET@HOST/BUCKET"},
	"replay":      {"w3dag replay --archive ./w3dag-data/blobs --data ./rebuilt --public-url http://127.0.0.1:8080", "w3dag replay --archive ./w3dag-data/blobs --data ./rebuilt --kv postgres://postgres@127.0.0.1/rebuilt --public-url https://w3dag.example.org"},
	"verify":      {"w3dag verify --archive ./w3dag-data/blobs --against ./w3dag-data --public-url http://127.0.0.1:8080"},
	"broker":      {"w3dag broker --listen 127.0.0.1:8081", "w3dag broker --listen 127.0.0.1:0 --provider f01234 --fail-with 'no storage provider'"},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		usage(stdout)
		return 0
	}
	switch args[0] {
	case "--version", "-version":
		return runVersion(ctx, args[1:], stdout, stderr)
	case "help":
		if len(args) == 1 {
			usage(stdout)
			return 0
		}
		if _, ok := commands[args[1]]; !ok {
			fmt.Fprintf(stderr, "w3dag help: unknown command %q (see `w3dag help`)\n", args[1])
			return 2
		}
		return run(ctx, []string{args[1], "-h"}, stdout, stdout) // asked for: to stdout, ready for a pager
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "w3dag: unknown command %q (see `w3dag help`)\n", args[0])
		return 2
	}
	if wantsHelp(args[1:]) {
		helpHeader(stderr, args[0])
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

// wantsHelp says whether a command's arguments ask for its help (-h, -help or --help before
// any "--"); the command then prints its usage and flags after helpHeader.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// helpHeader prints what `w3dag <name> -h` shows before the command's usage and flags: the
// one-line description and the examples.
func helpHeader(w io.Writer, name string) {
	fmt.Fprintf(w, "w3dag %s: %s\n\nexamples:\n", name, commands[name].summary)
	for _, ex := range examples[name] {
		fmt.Fprintf(w, "  %s\n", ex)
	}
	fmt.Fprintln(w)
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
	fmt.Fprintln(w)
	fmt.Fprintln(w, "`w3dag help <command>` or `w3dag <command> -h` describes a command, with examples and flags;")
	fmt.Fprintln(w, "`w3dag --version` prints the version. Every flag --foo-bar can also be set as W3DAG_FOO_BAR.")
}
