package main

// compact.go: `w3dag compact [--data DIR]`, giving a stopped service's bolt file its free
// pages back.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/w3dag/w3dag/kv/bolt"
)

// compactLockTimeout is how long `w3dag compact` waits for a running service to let go
// of the bolt file before saying so.
const compactLockTimeout = 2 * time.Second

// runCompact implements `w3dag compact`: rewrite the data folder's bolt file (w3dag.db)
// with only its live pages (kv/bolt.Compact). The service must be stopped.
func runCompact(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("w3dag compact", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: w3dag compact [--data DIR]  (with w3dag serve stopped)")
		fs.PrintDefaults()
	}
	data := fs.String("data", "./w3dag-data", "data folder of the stopped service whose bolt file to compact")
	if _, code, ok := parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	path := filepath.Join(*data, boltFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fail(stderr, "compact", fmt.Errorf("%s holds no bolt store (%s); only --kv bolt needs compacting", *data, boltFile))
	}
	before, after, err := bolt.Compact(path, compactLockTimeout)
	if err != nil {
		return fail(stderr, "compact", err)
	}
	fmt.Fprintf(stdout, "compacted %s: %d bytes before, %d after\n", path, before, after)
	return 0
}
