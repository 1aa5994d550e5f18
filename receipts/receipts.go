package receipts

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// Command is the command of every receipt.
const Command = "/ucan/assert/receipt"

// MaxFx is the most effects (fx links) a receipt may carry.
const MaxFx = 1024

// Failure is the error outcome of an invocation.
type Failure struct {
	// Name is the error name, e.g. "EntryExists".
	Name string
	// Message says what was wrong.
	Message string
}

// Out is the outcome of an invocation: exactly one of Ok and Err is set.
type Out struct {
	Ok  datamodel.Node
	Err *Failure
}

// Receipt is the content of a receipt token.
type Receipt struct {
	// Ran is the CID of the invocation the receipt is for.
	Ran cid.Cid
	// Out is the outcome; for a DAG entry Out.Ok is the entry's state.
	Out Out
	// Path is the absolute DAG path the receipt is about ("" when about none).
	Path string
	// Origin links the previous receipt of the same path, if any.
	Origin *cid.Cid
	// Fx links invocations the run caused (effects), if any.
	Fx []cid.Cid
	// TS is the time of the receipt in Unix milliseconds.
	TS int64
	// Seq is the commit sequence the receipt was committed at (for error and read
	// receipts, the last sequence committed when it was issued).
	Seq uint64
}

// args returns the receipt's args as an IPLD map, checking r's shape (ErrMalformed).
func (r *Receipt) args() (datamodel.Node, error) {
	if !r.Ran.Defined() {
		return nil, fmt.Errorf("%w: ran is undefined", ErrMalformed)
	}
	if (r.Out.Ok == nil) == (r.Out.Err == nil) {
		return nil, fmt.Errorf("%w: out must have exactly one of ok and error", ErrMalformed)
	}
	if len(r.Fx) > MaxFx {
		return nil, fmt.Errorf("%w: %d effects, more than %d", ErrMalformed, len(r.Fx), MaxFx)
	}
	// Fields in DAG-CBOR order (length, then bytes): the sealed token keeps this node.
	f := make([]field, 0, 5)
	if len(r.Fx) > 0 {
		nb := basicnode.Prototype.List.NewBuilder()
		la, err := nb.BeginList(int64(len(r.Fx)))
		if err != nil {
			return nil, err
		}
		for _, c := range r.Fx {
			if err := la.AssembleValue().AssignLink(cidlink.Link{Cid: c}); err != nil {
				return nil, err
			}
		}
		if err := la.Finish(); err != nil {
			return nil, err
		}
		f = append(f, fieldOf(keyFx, nb.Build()))
	}
	var out *fieldMap
	if r.Out.Ok != nil {
		out = &fieldMap{f: []field{fieldOf(keyOk, r.Out.Ok)}}
	} else {
		e := &fieldMap{f: []field{
			fieldOf(keyName, basicnode.NewString(r.Out.Err.Name)),
			fieldOf(keyMessage, basicnode.NewString(r.Out.Err.Message)),
		}}
		out = &fieldMap{f: []field{fieldOf(keyError, e)}}
	}
	f = append(f, fieldOf(keyOut, out), fieldOf(keyRan, basicnode.NewLink(cidlink.Link{Cid: r.Ran})))
	if r.Path != "" {
		f = append(f, fieldOf(keyPath, basicnode.NewString(r.Path)))
	}
	if r.Origin != nil {
		f = append(f, fieldOf(keyOrigin, basicnode.NewLink(cidlink.Link{Cid: *r.Origin})))
	}
	return &fieldMap{f: f}, nil
}

func (r *Receipt) meta() datamodel.Node {
	return &fieldMap{f: []field{fieldOf(keyTS, basicnode.NewInt(r.TS)), fieldOf(keySeq, basicnode.NewInt(int64(r.Seq)))}}
}

// Issue builds the receipt token for r and signs it with s (the service): iss = sub =
// aud = s.DID().
func Issue(s did.Signer, r Receipt, opts ucan.SealOptions) (*ucan.Token, error) {
	if int64(r.Seq) < 0 {
		return nil, fmt.Errorf("issuing receipt: %w: seq %d out of range", ErrMalformed, r.Seq)
	}
	args, err := r.args()
	if err != nil {
		return nil, fmt.Errorf("issuing receipt: %w", err)
	}
	meta := r.meta()
	svc := s.DID()
	inv := &ucan.Invocation{
		Issuer:   svc,
		Subject:  svc,
		Audience: svc,
		Command:  Command,
		Args:     args,
		Meta:     meta,
	}
	// args and meta are fresh nodes: the token can keep them instead of decoding copies.
	opts.Direct = true
	t, err := inv.Seal(s, opts)
	if err != nil {
		return nil, fmt.Errorf("issuing receipt: %w", err)
	}
	return t, nil
}

// Decode decodes raw receipt bytes and parses the receipt (no signature check).
func Decode(raw []byte) (*ucan.Token, *Receipt, error) {
	t, err := ucan.Decode(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("decoding receipt: %w", err)
	}
	r, err := Parse(t)
	if err != nil {
		return nil, nil, err
	}
	return t, r, nil
}

// Parse reads the receipt in t. It checks the shape (command, iss = sub = aud, args and
// meta) but not the signature nor who issued it; see Verify.
func Parse(t *ucan.Token) (*Receipt, error) {
	if t == nil || t.Invocation == nil {
		return nil, fmt.Errorf("parsing receipt: %w: not an invocation", ErrNotReceipt)
	}
	inv := t.Invocation
	if inv.Command != Command {
		return nil, fmt.Errorf("parsing receipt: %w: command is %q, want %q", ErrNotReceipt, inv.Command, Command)
	}
	if inv.Subject != inv.Issuer || inv.Audience != inv.Issuer {
		return nil, fmt.Errorf("parsing receipt: %w: iss %q, sub %q and aud %q must be the same", ErrNotReceipt, inv.Issuer, inv.Subject, inv.Audience)
	}
	r := &Receipt{}
	if err := r.readArgs(inv.Args); err != nil {
		return nil, fmt.Errorf("parsing receipt: %w", err)
	}
	if err := r.readMeta(inv.Meta); err != nil {
		return nil, fmt.Errorf("parsing receipt: %w", err)
	}
	return r, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

func linkField(n datamodel.Node, name string) (cid.Cid, error) {
	l, err := n.AsLink()
	if err != nil {
		return cid.Undef, malformed("%s is not a link", name)
	}
	cl, ok := l.(cidlink.Link)
	if !ok || !cl.Cid.Defined() {
		return cid.Undef, malformed("%s is not a CID link", name)
	}
	return cl.Cid, nil
}

func (r *Receipt) readArgs(args datamodel.Node) error {
	if args == nil || args.Kind() != datamodel.Kind_Map {
		return malformed("args is not a map")
	}
	it := args.MapIterator()
	for !it.Done() {
		k, v, err := it.Next()
		if err != nil {
			return malformed("args: %v", err)
		}
		key, err := k.AsString()
		if err != nil {
			return malformed("args key is not a string")
		}
		switch key {
		case "ran":
			if r.Ran, err = linkField(v, "args.ran"); err != nil {
				return err
			}
		case "out":
			if err := r.readOut(v); err != nil {
				return err
			}
		case "path":
			if r.Path, err = v.AsString(); err != nil {
				return malformed("args.path is not a string")
			}
		case "origin":
			c, err := linkField(v, "args.origin")
			if err != nil {
				return err
			}
			r.Origin = &c
		case "fx":
			if v.Kind() != datamodel.Kind_List {
				return malformed("args.fx is not a list")
			}
			if v.Length() > MaxFx {
				return malformed("args.fx has %d links, more than %d", v.Length(), MaxFx)
			}
			li := v.ListIterator()
			for !li.Done() {
				i, e, err := li.Next()
				if err != nil {
					return malformed("args.fx: %v", err)
				}
				c, err := linkField(e, fmt.Sprintf("args.fx[%d]", i))
				if err != nil {
					return err
				}
				r.Fx = append(r.Fx, c)
			}
		default:
			return malformed("unknown field args.%s", key)
		}
	}
	// linkField and readOut set these or fail: unset means the key was absent.
	if !r.Ran.Defined() {
		return malformed("args.ran is missing")
	}
	if r.Out.Ok == nil && r.Out.Err == nil {
		return malformed("args.out is missing")
	}
	return nil
}

func (r *Receipt) readOut(out datamodel.Node) error {
	if out.Kind() != datamodel.Kind_Map || out.Length() != 1 {
		return malformed("args.out must be a map with exactly one of ok and error")
	}
	if ok, err := out.LookupByString("ok"); err == nil {
		r.Out.Ok = ok
		return nil
	}
	e, err := out.LookupByString("error")
	if err != nil {
		return malformed("args.out must have ok or error")
	}
	if e.Kind() != datamodel.Kind_Map {
		return malformed("args.out.error is not a map")
	}
	f := &Failure{}
	it := e.MapIterator()
	for !it.Done() {
		k, v, err := it.Next()
		if err != nil {
			return malformed("args.out.error: %v", err)
		}
		key, err := k.AsString()
		if err != nil {
			return malformed("args.out.error key is not a string")
		}
		switch key {
		case "name":
			if f.Name, err = v.AsString(); err != nil {
				return malformed("args.out.error.name is not a string")
			}
		case "message":
			if f.Message, err = v.AsString(); err != nil {
				return malformed("args.out.error.message is not a string")
			}
		}
	}
	if f.Name == "" {
		return malformed("args.out.error.name is missing or empty")
	}
	r.Out.Err = f
	return nil
}

func (r *Receipt) readMeta(meta datamodel.Node) error {
	if meta == nil || meta.Kind() != datamodel.Kind_Map {
		return malformed("meta is missing or not a map")
	}
	ts, err := meta.LookupByString("ts")
	if err != nil {
		return malformed("meta.ts is missing")
	}
	if r.TS, err = ts.AsInt(); err != nil {
		return malformed("meta.ts is not an integer")
	}
	seq, err := meta.LookupByString("seq")
	if err != nil {
		return malformed("meta.seq is missing")
	}
	s, err := seq.AsInt()
	if err != nil || s < 0 {
		return malformed("meta.seq is not a non-negative integer")
	}
	r.Seq = uint64(s)
	return nil
}

// Verify parses the receipt in t and checks that service issued it and that its signature
// verifies.
func Verify(t *ucan.Token, service string) (*Receipt, error) {
	r, err := Parse(t)
	if err != nil {
		return nil, err
	}
	if iss := t.Invocation.Issuer; iss != service {
		return nil, fmt.Errorf("verifying receipt %s: %w: issued by %q, want %q", t.CID, ErrWrongIssuer, iss, service)
	}
	if err := t.VerifySignature(); err != nil {
		return nil, fmt.Errorf("verifying receipt %s: %w: %w", t.CID, ErrBadSignature, err)
	}
	return r, nil
}

// Walk follows the chain of receipts from head through origin links, loading each block
// with load, checking that its bytes hash to the CID that linked it, that the service
// issued and signed it, and that it is about the same path as the head. fn is called for
// each receipt, head first; an error from fn ends the walk and is returned.
func Walk(ctx context.Context, load func(cid.Cid) ([]byte, error), head cid.Cid, service string, fn func(*ucan.Token, *Receipt) error) error {
	return walk(ctx, load, head, func(t *ucan.Token) (*Receipt, error) { return Verify(t, service) }, fn)
}

// WalkStored is Walk for receipts the caller itself stored after issuing (or verifying)
// them: every block must still hash to the CID that links it, be a receipt issued by
// service and be about the chain's path, but signatures are not verified again — the
// expensive part of Walk, which a server answering anonymous chain reads must not redo
// on every request. Clients verify what they are given with Walk.
func WalkStored(ctx context.Context, load func(cid.Cid) ([]byte, error), head cid.Cid, service string, fn func(*ucan.Token, *Receipt) error) error {
	return walk(ctx, load, head, func(t *ucan.Token) (*Receipt, error) {
		r, err := Parse(t)
		if err != nil {
			return nil, err
		}
		if iss := t.Invocation.Issuer; iss != service {
			return nil, fmt.Errorf("stored receipt %s: %w: issued by %q, want %q", t.CID, ErrWrongIssuer, iss, service)
		}
		return r, nil
	}, fn)
}

func walk(ctx context.Context, load func(cid.Cid) ([]byte, error), head cid.Cid, check func(*ucan.Token) (*Receipt, error), fn func(*ucan.Token, *Receipt) error) error {
	next := &head
	path := ""
	for i := 0; next != nil; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := *next
		raw, err := load(c)
		if err != nil {
			return fmt.Errorf("%w: loading receipt %s: %w", ErrBrokenChain, c, err)
		}
		t, err := ucan.Decode(raw)
		if err != nil {
			return fmt.Errorf("%w: receipt %s: %w", ErrBrokenChain, c, err)
		}
		if !t.CID.Equals(c) {
			return fmt.Errorf("%w: block loaded for %s hashes to %s", ErrBrokenChain, c, t.CID)
		}
		r, err := check(t)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBrokenChain, err)
		}
		if i == 0 {
			path = r.Path
		} else if r.Path != path {
			return fmt.Errorf("%w: receipt %s is about %q, the chain about %q", ErrBrokenChain, c, r.Path, path)
		}
		if err := fn(t, r); err != nil {
			return err
		}
		next = r.Origin
	}
	return nil
}
