package main

// down.go: `w3dag down CID[/path] [-o PATH]`, content out through the trustless gateway.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/client/unixfs"
)

// carAccept is the Accept header of `w3dag down`: a CARv1 in depth-first order, with
// duplicate blocks allowed (the trustless gateway specification's parameters).
const carAccept = "application/vnd.ipld.car; version=1; order=dfs; dups=y"

// runDown implements `w3dag down CID[/path] [-o PATH] [--max-bytes N] [--max-entries N]`: GET
// /ipfs/{cid}[/path] as a CAR (dag-scope=all) from the service, check every block against
// its CID as it streams, and write the file or directory atomically at PATH (default: the
// last path segment, else the CID). --max-bytes bounds the CAR received and the files
// written (unixfs.ExtractOptions.MaxBytes), --max-entries the files and directories
// created (MaxEntries): past either nothing is written.
func runDown(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("down", "usage: w3dag down CID[/path] [-o PATH] [--max-bytes N] [--max-entries N]", stderr)
	out := fs.String("o", "", "where to write the file or directory (default: the last path segment, else the CID); must not exist")
	maxBytes := byteSize(unixfs.DefaultMaxBytes)
	fs.Var(&maxBytes, "max-bytes", "most bytes to receive, and most bytes of files to write (suffixes KiB, MiB, GiB, TiB; default 16 GiB); past it down fails and writes nothing")
	maxEntries := fs.Int64("max-entries", unixfs.DefaultMaxEntries, "most files and directories to create, the output included; past it down fails and writes nothing")
	pos, code, ok := parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	if maxBytes == 0 || uint64(maxBytes) > math.MaxInt64 {
		return usageError(stderr, "down", "--max-bytes %d: want a positive number of bytes", uint64(maxBytes))
	}
	if *maxEntries <= 0 {
		return usageError(stderr, "down", "--max-entries %d: want a positive number of files and directories", *maxEntries)
	}
	arg := strings.TrimPrefix(strings.TrimPrefix(pos[0], "/ipfs/"), "ipfs://")
	parts := strings.Split(strings.Trim(arg, "/"), "/")
	root, err := cid.Decode(parts[0])
	if err != nil {
		return fail(stderr, "down", fmt.Errorf("%q is not a CID: %w", parts[0], err))
	}
	var path []string
	for _, p := range parts[1:] {
		if p != "" {
			path = append(path, p)
		}
	}
	dest := *out
	if dest == "" {
		dest = root.String()
		if len(path) > 0 {
			dest = path[len(path)-1]
		}
		if dest == "." || dest == ".." || strings.ContainsRune(dest, filepath.Separator) {
			return fail(stderr, "down", fmt.Errorf("cannot name the output after %q: give -o PATH", dest))
		}
	}
	if _, err := os.Lstat(dest); err == nil {
		return fail(stderr, "down", fmt.Errorf("%w: %s (give -o a new path)", unixfs.ErrExists, dest))
	}
	u := cf.serviceURL() + "/ipfs/" + root.String()
	for _, p := range path {
		u += "/" + url.PathEscape(p)
	}
	u += "?format=car&dag-scope=all"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fail(stderr, "down", err)
	}
	req.Header.Set("Accept", carAccept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fail(stderr, "down", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(stderr, "down", fmt.Errorf("GET %s: %w", u, client.ErrorFromResponse(resp)))
	}
	if err := unixfs.Extract(ctx, resp.Body, root, path, dest, unixfs.ExtractOptions{MaxBytes: int64(maxBytes), MaxEntries: *maxEntries}); err != nil {
		switch {
		case errors.Is(err, unixfs.ErrTooLarge):
			err = fmt.Errorf("%w (--max-bytes %d; nothing was written)", err, uint64(maxBytes))
		case errors.Is(err, unixfs.ErrTooManyEntries):
			err = fmt.Errorf("%w (--max-entries %d; nothing was written)", err, *maxEntries)
		}
		return fail(stderr, "down", fmt.Errorf("%s: %w", pos[0], err))
	}
	if cf.json {
		fmt.Fprintf(stdout, "{\"cid\":%q,\"path\":%q,\"out\":%q}\n", root, strings.Join(path, "/"), dest)
	} else {
		fmt.Fprintln(stdout, dest)
	}
	return 0
}
