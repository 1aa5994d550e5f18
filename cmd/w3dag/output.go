package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/message"
)

// manyArgs as parseArgs' maxArgs puts no upper bound on the positional arguments.
const manyArgs = -1

// parseArgs parses a command's flags and checks it was given minArgs to maxArgs positional
// arguments (maxArgs manyArgs: no upper bound); ok is false when the command must end with code
// (0 after -h, 2 after a bad flag, the flag package having printed why, or 2 after a wrong
// number of arguments, the usage having been printed).
func parseArgs(fs *flag.FlagSet, args []string, minArgs, maxArgs int) (pos []string, code int, ok bool) {
	pos, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, 0, false
	}
	if err != nil {
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		return nil, 2, false
	}
	if len(pos) < minArgs || (maxArgs != manyArgs && len(pos) > maxArgs) {
		fs.Usage()
		return nil, 2, false
	}
	return pos, 0, true
}

// dagJSON renders n as DAG-JSON (whole floats keep their ".0", so what is printed can be
// put back as it is).
func dagJSON(n datamodel.Node) string {
	b, err := message.DAGJSON(n)
	if err != nil {
		return fmt.Sprintf("<unprintable: %v>", err)
	}
	return string(b)
}

// receiptNode is the DAG-JSON form of a receipt printed with --json:
// {receipt, ran, path?, out: {ok}|{error: {name, message}}, origin?, fx?, ts, seq}.
func receiptNode(r *client.Receipt) datamodel.Node {
	nb := basicnode.Prototype.Map.NewBuilder()
	ma, _ := nb.BeginMap(-1)
	link := func(k string, c cidlink.Link) {
		_ = ma.AssembleKey().AssignString(k)
		_ = ma.AssembleValue().AssignLink(c)
	}
	link("receipt", cidlink.Link{Cid: r.CID})
	link("ran", cidlink.Link{Cid: r.Ran})
	if r.Path != "" {
		_ = ma.AssembleKey().AssignString("path")
		_ = ma.AssembleValue().AssignString(r.Path)
	}
	_ = ma.AssembleKey().AssignString("out")
	out, _ := ma.AssembleValue().BeginMap(1)
	if r.Error != nil {
		_ = out.AssembleKey().AssignString("error")
		em, _ := out.AssembleValue().BeginMap(2)
		_ = em.AssembleKey().AssignString("name")
		_ = em.AssembleValue().AssignString(r.Error.Name)
		_ = em.AssembleKey().AssignString("message")
		_ = em.AssembleValue().AssignString(r.Error.Message)
		_ = em.Finish()
	} else {
		_ = out.AssembleKey().AssignString("ok")
		ok := r.Ok
		if ok == nil {
			ok = datamodel.Null
		}
		_ = out.AssembleValue().AssignNode(ok)
	}
	_ = out.Finish()
	if r.Origin != nil {
		link("origin", cidlink.Link{Cid: *r.Origin})
	}
	if len(r.Fx) > 0 {
		_ = ma.AssembleKey().AssignString("fx")
		la, _ := ma.AssembleValue().BeginList(int64(len(r.Fx)))
		for _, c := range r.Fx {
			_ = la.AssembleValue().AssignLink(cidlink.Link{Cid: c})
		}
		_ = la.Finish()
	}
	_ = ma.AssembleKey().AssignString("ts")
	_ = ma.AssembleValue().AssignInt(r.TS)
	_ = ma.AssembleKey().AssignString("seq")
	_ = ma.AssembleValue().AssignInt(int64(r.Seq))
	_ = ma.Finish()
	return nb.Build()
}

// printReceipt prints r readably, or as one line of DAG-JSON.
func printReceipt(w io.Writer, r *client.Receipt, asJSON bool) {
	if asJSON {
		fmt.Fprintln(w, dagJSON(receiptNode(r)))
		return
	}
	fmt.Fprintf(w, "receipt  %s\n", r.CID)
	if r.Path != "" {
		fmt.Fprintf(w, "path     %s\n", r.Path)
	}
	if r.Error != nil {
		fmt.Fprintf(w, "error    %s\n", r.Error)
	} else if s := r.Status(); s != "" {
		fmt.Fprintf(w, "status   %s\n", s)
	}
	if h := r.Head(); !h.Equals(r.CID) {
		fmt.Fprintf(w, "head     %s\n", h)
	}
	if r.Origin != nil {
		fmt.Fprintf(w, "origin   %s\n", *r.Origin)
	}
	fmt.Fprintf(w, "seq      %d\n", r.Seq)
	if r.TS > 0 {
		fmt.Fprintf(w, "time     %s\n", time.UnixMilli(r.TS).UTC().Format(time.RFC3339Nano))
	}
	if st := r.State(); st != nil {
		fmt.Fprintf(w, "state    %s\n", dagJSON(st))
	}
}
