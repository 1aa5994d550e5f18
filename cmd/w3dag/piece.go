package main

// piece.go: `w3dag piece`, the Filecoin piece commitment (commP) of files, computed
// locally with package piece; no service is involved.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/piece"
)

// pieceStdin is where a FILE of "-" is read from (replaced in tests).
var pieceStdin io.Reader = os.Stdin

const pieceUsage = `usage: w3dag piece [--json] FILE...
  Compute the Filecoin piece commitment of each FILE ("-" reads stdin) and print one
  line per file: the v2 piece CID (FRC-0069), the v1 CID, the payload size and the
  padded piece size (then the file name). --json prints DAG-JSON
  {"piece", "v1", "size", "paddedSize"} instead, one document a line.`

// runPiece implements `w3dag piece [--json] FILE...`.
func runPiece(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("w3dag piece", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, pieceUsage)
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print DAG-JSON instead of readable text")
	files, code, ok := parseArgs(fs, args, 1, manyArgs)
	if !ok {
		return code
	}
	for _, name := range files {
		p, err := pieceOfFile(ctx, name)
		if err != nil {
			return fail(stderr, "piece", err)
		}
		v1, padded := p.V1()
		if *asJSON {
			fmt.Fprintln(stdout, dagJSON(pieceNode(p)))
		} else {
			fmt.Fprintf(stdout, "%s  %s  %d  %d  %s\n", p.CID(), v1, p.Size, padded, name)
		}
	}
	return 0
}

// pieceOfFile computes the piece of a file ("-" is stdin), stopping early if ctx ends. A
// regular file's segments are read (ReadAt) and hashed by the workers themselves
// (piece.ComputeFile); stdin as a pipe is streamed.
func pieceOfFile(ctx context.Context, name string) (piece.Piece, error) {
	var p piece.Piece
	var err error
	stream := false
	if name == "-" {
		if f, ok := pieceStdin.(*os.File); ok {
			p, err = piece.ComputeFile(ctx, f)
		} else {
			stream = true
			p, err = piece.Compute(piece.ContextReader(ctx, pieceStdin))
		}
	} else {
		f, openErr := os.Open(name)
		if openErr != nil {
			return piece.Piece{}, openErr
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return piece.Piece{}, fmt.Errorf("%s is a directory", name)
		}
		p, err = piece.ComputeFile(ctx, f)
	}
	if err != nil && stream {
		// piece.ComputeFile's errors name the file; Compute's do not.
		return p, fmt.Errorf("reading %s: %w", name, err)
	}
	return p, err
}

// pieceNode is the DAG-JSON form of a piece: {piece, v1, size, paddedSize}.
func pieceNode(p piece.Piece) datamodel.Node {
	v1, padded := p.V1()
	nb := basicnode.Prototype.Map.NewBuilder()
	ma, _ := nb.BeginMap(4)
	_ = ma.AssembleKey().AssignString("piece")
	_ = ma.AssembleValue().AssignLink(cidlink.Link{Cid: p.CID()})
	_ = ma.AssembleKey().AssignString("v1")
	_ = ma.AssembleValue().AssignLink(cidlink.Link{Cid: v1})
	_ = ma.AssembleKey().AssignString("size")
	_ = ma.AssembleValue().AssignInt(int64(p.Size))
	_ = ma.AssembleKey().AssignString("paddedSize")
	_ = ma.AssembleValue().AssignInt(int64(padded))
	_ = ma.Finish()
	return nb.Build()
}
