package main

// logs.go: the JSON log exporter (archive/logs) — `w3dag logs export`, and the exporter
// `w3dag serve --logs` runs beside the service.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/w3dag/w3dag/archive/logs"
	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
)

// logsOn reports whether serve runs the exporter: --logs, or by default with --blob fs.
func (c serveConfig) logsOn() bool {
	if c.logs == "" {
		return c.blob == "fs"
	}
	return c.logs == "true"
}

// runLogExporter starts the exporter over engine's commit log; stop ends it and waits.
func runLogExporter(ctx context.Context, engine *dag.Engine, kvs kv.Store, blobs blob.Store, interval time.Duration, log *slog.Logger) (stop func(), err error) {
	x, err := logs.New(logs.Options{Source: engine, KV: kvs, Blobs: blobs, Interval: interval, Logger: log.With("component", "logs")})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- x.Run(runCtx) }()
	return func() {
		cancel()
		<-done
	}, nil
}

// logsUsage is the usage line of `w3dag logs`.
const logsUsage = "usage: w3dag logs export [--data DIR] [--kv KIND|URL] [--postgres-url URL] [--postgres-schema S] [--schema FILE]... [--blob fs|s3] [--s3-url URL] [--chunk N]"

// runLogs implements `w3dag logs export [--data DIR] [--kv …] [--blob …] [--chunk N]`:
// export every commit-log record not exported yet and print what was written. It opens
// the store the way serve does; with an embedded kv (bolt, pebble) the service must be
// stopped (or export with `serve --logs` instead).
func runLogs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		args = []string{"export", "-h"} // the flags are export's
	}
	if len(args) == 0 || args[0] != "export" {
		fmt.Fprintln(stderr, logsUsage)
		if len(args) == 0 {
			return 2
		}
		return usageError(stderr, "logs", "unknown subcommand %q (want export)", args[0])
	}
	fs := flag.NewFlagSet("w3dag logs export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, logsUsage)
		fs.PrintDefaults()
	}
	var c serveConfig
	fs.StringVar(&c.data, "data", "./w3dag-data", "data folder of the service: service key, embedded kv and blobs")
	fs.StringVar(&c.kv, "kv", "", "kv backend: pebble or bolt (in the data folder), postgres (with --postgres-url) or a postgres:// URL (default: what the data folder holds)")
	fs.StringVar(&c.postgresURL, "postgres-url", "", "PostgreSQL connection URL (with --kv postgres)")
	fs.StringVar(&c.pgSchema, "postgres-schema", "", "PostgreSQL schema holding the tables (default public)")
	fs.StringVar(&c.blob, "blob", "fs", "blob backend the files are written to: fs (in the data folder) or s3")
	fs.StringVar(&c.s3URL, "s3-url", "", "S3 bucket as http[s]://KEY:SECRET@HOST[:PORT]/BUCKET[/PREFIX]?region=R (with --blob s3)")
	fs.Var(&c.schemas, "schema", "IPLD schema extension files the service runs with (repeatable)")
	chunk := fs.Int("chunk", logs.DefaultChunk, fmt.Sprintf("most commit-log records per chunk (one round of files), at most %d", logs.MaxChunk))
	if _, code, ok := parseArgs(fs, args[1:], 0, 0); !ok {
		return code
	}
	if *chunk <= 0 || *chunk > logs.MaxChunk {
		return usageError(stderr, "logs", "--chunk %d: want 1 to %d", *chunk, logs.MaxChunk)
	}
	st, err := exportLogs(ctx, c, *chunk)
	if err != nil {
		return fail(stderr, "logs export", err)
	}
	fmt.Fprintf(stdout, "exported %d commit-log records in %d files; position %d\n", st.Records, st.Files, st.Position)
	return 0
}

// exportLogs opens the service's stores and engine as serve does and exports.
func exportLogs(ctx context.Context, c serveConfig, chunk int) (logs.Stats, error) {
	keyFile := filepath.Join(c.data, serviceKeyFile)
	if _, err := os.Stat(keyFile); err != nil {
		return logs.Stats{}, fmt.Errorf("%s is not the data folder of a service (no %s): %w", c.data, serviceKeyFile, err)
	}
	var err error
	if c.kv, c.postgresURL, err = resolveKV(c); err != nil {
		return logs.Stats{}, err
	}
	signer, _, err := loadServiceKey(keyFile)
	if err != nil {
		return logs.Stats{}, err
	}
	sch, err := loadSchema(c.schemas)
	if err != nil {
		return logs.Stats{}, err
	}
	log := slog.New(slog.DiscardHandler)
	kvs, err := openKV(ctx, c, log)
	if err != nil {
		return logs.Stats{}, err
	}
	defer kvs.Close()
	blobs, err := openBlobs(ctx, c, "", log)
	if err != nil {
		return logs.Stats{}, err
	}
	if cl, ok := blobs.(io.Closer); ok {
		defer cl.Close()
	}
	// The engine only reads here: the commit log and blocks. No machine runs.
	engine, err := dag.Open(ctx, dag.Options{KV: kvs, Signer: signer, Schema: sch, Logger: log})
	if err != nil {
		return logs.Stats{}, fmt.Errorf("opening the engine: %w", err)
	}
	defer engine.Close()
	x, err := logs.New(logs.Options{Source: engine, KV: kvs, Blobs: blobs, Chunk: chunk})
	if err != nil {
		return logs.Stats{}, err
	}
	return x.Export(ctx)
}
