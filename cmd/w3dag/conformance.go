package main

import (
	"context"
	"fmt"
	"io"

	"github.com/w3dag/w3dag/conformance"
)

// runConformance implements `w3dag conformance --url URL [--service DID] [--collection C]
// [--run NAME]`: the black-box protocol suite against a running service.
func runConformance(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("conformance", "usage: w3dag conformance [--url URL] [--service DID] [--collection C] [--run NAME]", stderr)
	collection := fs.String("collection", conformance.DefaultCollection, "space collection to exercise (its input must accept {\"root\": link})")
	filter := fs.String("run", "", "run only the cases whose name contains this")
	pos, code, ok := parseArgs(fs, args, 0, manyArgs)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		return usageError(stderr, "conformance", "unexpected argument %q", pos[0])
	}
	results := conformance.RunReport(ctx, conformance.Target{URL: cf.serviceURL(), ServiceDID: cf.service, Collection: *collection}, *filter, stdout)
	failed := 0
	for _, r := range results {
		if !r.Passed {
			failed++
		}
	}
	if len(results) == 0 {
		return usageError(stderr, "conformance", "no case matches --run %q", *filter)
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", len(results)-failed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}
