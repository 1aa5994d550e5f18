package main

// aggregate.go: `w3dag aggregate`, an FRC-0058 deal aggregate of pieces computed locally
// with package piece: the aggregate's piece CID, where each piece goes, and each piece's
// inclusion proof checked against the aggregate CID alone; no service is involved.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/piece"
)

const aggregateUsage = `usage: w3dag aggregate --deal-size SIZE [--index-out FILE] [--json] INPUT...
  Place the pieces in a deal of SIZE padded bytes (a power of two; 2048, 32GiB, …) in
  the order given (FRC-0058) and print the aggregate piece CID (v2 and v1), then for
  each INPUT its offset, padded size and whether its inclusion proof verifies against
  the aggregate CID. Each INPUT is a file ("-" reads stdin) or a v2 piece CID
  (bafkzcib…). --index-out writes the raw index region (the payload bytes at the end
  of the deal). Exits 1 if the pieces do not fit or a proof does not verify.`

// runAggregate implements `w3dag aggregate --deal-size SIZE [--index-out FILE] INPUT...`.
func runAggregate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("w3dag aggregate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, aggregateUsage)
		fs.PrintDefaults()
	}
	dealS := fs.String("deal-size", "", "padded deal size in bytes, a power of two (suffixes KiB, MiB, GiB, TiB); required")
	indexOut := fs.String("index-out", "", "write the raw index region (unpadded bytes at the end of the deal) to this file")
	asJSON := fs.Bool("json", false, "print DAG-JSON instead of readable text")
	inputs, code, ok := parseArgs(fs, args, 1, manyArgs)
	if !ok {
		return code
	}
	if *dealS == "" {
		return usageError(stderr, "aggregate", "--deal-size is required")
	}
	dealSize, err := parseByteSize(*dealS)
	if err == nil {
		err = piece.CheckDealSize(dealSize)
	}
	if err != nil {
		return usageError(stderr, "aggregate", "--deal-size %q: %v", *dealS, err)
	}
	pieces := make([]piece.Piece, len(inputs))
	for i, in := range inputs {
		if pieces[i], err = pieceOfInput(ctx, in); err != nil {
			return fail(stderr, "aggregate", err)
		}
	}
	a, err := piece.NewAggregate(dealSize, pieces)
	var fe *piece.FitError
	if errors.As(err, &fe) && fe.Piece >= 0 {
		return fail(stderr, "aggregate", fmt.Errorf("%s: %w", inputs[fe.Piece], err))
	}
	if err != nil {
		return fail(stderr, "aggregate", err)
	}
	agg := a.Piece()
	rawOffset := piece.IndexPayloadOffset(dealSize)
	if *indexOut != "" {
		raw, _ := a.IndexRegionRaw()
		if err := os.WriteFile(*indexOut, raw, 0o644); err != nil {
			return fail(stderr, "aggregate", err)
		}
	}
	type result struct {
		offset, padded uint64
		proof          []byte
		err            error
	}
	results := make([]result, len(inputs))
	failed := 0
	for i, s := range a.Segments {
		r := result{offset: s.Offset, padded: s.Piece.PaddedSize()}
		proof, err := a.Inclusion(i)
		if err == nil {
			r.proof, _ = proof.MarshalBinary()
			// verify what travels: the encoded proof, decoded again, against the CIDs alone
			var decoded piece.InclusionProof
			if err = decoded.UnmarshalBinary(r.proof); err == nil {
				err = piece.VerifyInclusion(agg.CID(), s.Piece.CID(), decoded)
			}
		}
		if err != nil {
			r.err = err
			failed++
		}
		results[i] = r
	}
	v1, _ := agg.V1()
	if *asJSON {
		nb := basicnode.Prototype.Map.NewBuilder()
		ma, _ := nb.BeginMap(-1)
		key := func(k string) datamodel.NodeAssembler {
			_ = ma.AssembleKey().AssignString(k)
			return ma.AssembleValue()
		}
		_ = key("aggregate").AssignLink(cidlink.Link{Cid: agg.CID()})
		_ = key("v1").AssignLink(cidlink.Link{Cid: v1})
		_ = key("dealSize").AssignInt(int64(dealSize))
		_ = key("indexEntries").AssignInt(int64(piece.IndexEntries(dealSize)))
		_ = key("indexOffset").AssignInt(int64(piece.IndexStart(dealSize)))
		_ = key("indexPayloadOffset").AssignInt(int64(rawOffset))
		la, _ := key("pieces").BeginList(int64(len(results)))
		for i, r := range results {
			m, _ := la.AssembleValue().BeginMap(-1)
			kv := func(k string) datamodel.NodeAssembler {
				_ = m.AssembleKey().AssignString(k)
				return m.AssembleValue()
			}
			_ = kv("input").AssignString(inputs[i])
			_ = kv("piece").AssignLink(cidlink.Link{Cid: pieces[i].CID()})
			_ = kv("offset").AssignInt(int64(r.offset))
			_ = kv("paddedSize").AssignInt(int64(r.padded))
			_ = kv("verified").AssignBool(r.err == nil)
			_ = kv("proof").AssignBytes(r.proof)
			if r.err != nil {
				_ = kv("error").AssignString(r.err.Error())
			}
			_ = m.Finish()
		}
		_ = la.Finish()
		_ = ma.Finish()
		fmt.Fprintln(stdout, dagJSON(nb.Build()))
	} else {
		fmt.Fprintf(stdout, "aggregate  %s\n", agg.CID())
		fmt.Fprintf(stdout, "v1         %s\n", v1)
		fmt.Fprintf(stdout, "deal size  %d (index: %d entries at offset %d, payload offset %d)\n",
			dealSize, piece.IndexEntries(dealSize), piece.IndexStart(dealSize), rawOffset)
		fmt.Fprintf(stdout, "%-12s %-12s %-6s %s\n", "offset", "padded", "proof", "input")
		for i, r := range results {
			status := "ok"
			if r.err != nil {
				status = "FAILED: " + r.err.Error()
			}
			fmt.Fprintf(stdout, "%-12d %-12d %-6s %s\n", r.offset, r.padded, status, inputs[i])
		}
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "w3dag aggregate: %d inclusion proofs did not verify\n", failed)
		return 1
	}
	return 0
}

// pieceOfInput is the piece of a file, or of a v2 piece CID when no such file exists.
func pieceOfInput(ctx context.Context, in string) (piece.Piece, error) {
	if in == "-" {
		return pieceOfFile(ctx, in)
	}
	if _, statErr := os.Stat(in); statErr == nil {
		return pieceOfFile(ctx, in)
	} else if !errors.Is(statErr, os.ErrNotExist) {
		return piece.Piece{}, statErr
	}
	p, err := piece.Parse(in)
	if err != nil {
		return p, fmt.Errorf("%q is neither a file nor a v2 piece CID (%v)", in, err)
	}
	return p, nil
}

// parseByteSize parses a byte count: digits with an optional binary suffix (KiB, MiB,
// GiB, TiB; B is allowed).
func parseByteSize(s string) (uint64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	num, shift := strings.TrimSpace(s), uint(0)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, shift = strings.TrimSpace(rest), u.shift
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a byte count (digits with an optional KiB, MiB, GiB or TiB)")
	}
	if n > (^uint64(0))>>shift {
		return 0, fmt.Errorf("too large")
	}
	return n << shift, nil
}
