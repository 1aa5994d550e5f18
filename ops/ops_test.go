package ops

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// notesSchema adds a schema-only collection that the generic record machine runs.
const notesSchema = `
type Space struct {
  notes {String:Note}
}

type Note struct {
  title String
}
`

type fixture struct {
	t       testing.TB
	service did.Signer
	store   kv.Store
	engine  *dag.Engine
	ops     *Ops
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	service := mustKey(t)
	store := mem.New()
	eng, err := dag.Open(context.Background(), dag.Options{KV: store, Signer: service, Schema: schema.MustLoad([]byte(notesSchema))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	o, err := New(Options{Engine: eng, Signer: service})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, service: service, store: store, engine: eng, ops: o}
}

func mustKey(t testing.TB) did.Signer {
	t.Helper()
	k, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func node(t *testing.T, js string) datamodel.Node {
	t.Helper()
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagjson.Decode(nb, strings.NewReader(js)); err != nil {
		t.Fatalf("args %s: %v", js, err)
	}
	return nb.Build()
}

// delegate seals a delegation of cmd on sub from iss to aud; exp is a Unix time (0: none).
func delegate(t *testing.T, iss did.Signer, aud, sub, cmd string, exp int64) *ucan.Token {
	t.Helper()
	d := &ucan.Delegation{Issuer: iss.DID(), Audience: aud, Subject: sub, Command: cmd, Nonce: ucan.NewNonce()}
	if exp != 0 {
		d.Expiration = &exp
	}
	tok, err := d.Seal(iss, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func invoke(t *testing.T, iss did.Signer, sub, aud, cmd, args string, prf ...*ucan.Token) *ucan.Token {
	t.Helper()
	in := &ucan.Invocation{Issuer: iss.DID(), Subject: sub, Audience: aud, Command: cmd, Args: node(t, args), Nonce: ucan.NewNonce()}
	for _, p := range prf {
		in.Proofs = append(in.Proofs, p.CID)
	}
	tok, err := in.Seal(iss, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// keys counts the plain keys in the store.
func (f *fixture) keys() int {
	n := 0
	err := f.store.View(context.Background(), func(tx kv.Tx) error {
		return tx.Scan(kv.ScanOptions{}, func(k, v []byte) error { n++; return nil })
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func outcomeOf(t *testing.T, service string, o Outcome) *receipts.Receipt {
	t.Helper()
	r, err := receipts.Verify(o.Receipt, service)
	if err != nil {
		t.Fatalf("receipt does not verify: %v", err)
	}
	return r
}

func TestAuthorization(t *testing.T) {
	f := newFixture(t)
	svc := f.service.DID()
	space, other, agent := mustKey(t), mustKey(t), mustKey(t)
	past := time.Now().Add(-time.Hour).Unix()
	put := `{"path": "notes/a", "value": {"title": "x"}}`

	toAgent := delegate(t, space, agent.DID(), space.DID(), "/dag", 0)
	expired := delegate(t, space, agent.DID(), space.DID(), "/dag", past)
	otherSpace := delegate(t, other, agent.DID(), other.DID(), "/dag", 0)
	readOnly := delegate(t, space, agent.DID(), space.DID(), "/dag/get", 0)
	serviceRead := delegate(t, f.service, agent.DID(), svc, "/dag/get", 0)
	serviceAll := delegate(t, f.service, agent.DID(), svc, "/", 0)

	cases := []struct {
		name   string
		inv    *ucan.Token
		proofs []*ucan.Token
		want   string // "ok" or the receipt error name
		writes bool
	}{
		{"no valid chain", invoke(t, agent, space.DID(), "", "/dag/put", put), nil, ucan.InvalidClaim, false},
		{"expired proof", invoke(t, agent, space.DID(), "", "/dag/put", put, expired), []*ucan.Token{expired}, ucan.Expired, false},
		{"another space", invoke(t, agent, space.DID(), "", "/dag/put", put, otherSpace), []*ucan.Token{otherSpace}, ucan.InvalidSubject, false},
		{"command not covered", invoke(t, agent, space.DID(), "", "/dag/put", put, readOnly), []*ucan.Token{readOnly}, ucan.MatchError, false},
		{"proof missing", invoke(t, agent, space.DID(), "", "/dag/put", put, toAgent), nil, ucan.UnavailableProof, false},
		{"wrong audience", invoke(t, agent, space.DID(), other.DID(), "/dag/put", put, toAgent), []*ucan.Token{toAgent}, ucan.InvalidAudience, false},
		{"unknown command", invoke(t, space, space.DID(), "", "/dag/explode", put), nil, NameUnknownCommand, false},
		{"service collection written by a delegate", invoke(t, agent, svc, "", "/dag/put", `{"path": "metrics/x", "value": {}}`, serviceAll), []*ucan.Token{serviceAll}, ucan.InvalidClaim, false},
		{"service collection read without delegation", invoke(t, agent, svc, "", "/dag/get", `{"path": "metrics/x"}`), nil, ucan.InvalidClaim, false},
		{"self-issued by the space key", invoke(t, space, space.DID(), "", "/dag/put", put), nil, "ok", true},
		{"delegated put", invoke(t, agent, space.DID(), svc, "/dag/put", `{"path": "notes/b", "value": {"title": "y"}}`, toAgent), []*ucan.Token{toAgent}, "ok", true},
		{"read-only delegation reads", invoke(t, agent, space.DID(), "", "/dag/get", `{"path": "notes/a"}`, readOnly), []*ucan.Token{readOnly}, "ok", false},
		{"service collection read by a delegate", invoke(t, agent, svc, "", "/dag/get", `{"path": "metrics/x"}`, serviceRead), []*ucan.Token{serviceRead}, "NotFound", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.keys()
			out, err := f.ops.Run(context.Background(), tc.inv, ucan.NewProofs(tc.proofs...), cid.Undef)
			if err != nil {
				t.Fatal(err)
			}
			r := outcomeOf(t, svc, out)
			if !r.Ran.Equals(tc.inv.CID) {
				t.Fatalf("receipt ran %s, want %s", r.Ran, tc.inv.CID)
			}
			got := "ok"
			if r.Out.Err != nil {
				got = r.Out.Err.Name
				if r.Out.Err.Message == "" {
					t.Error("error receipt without a message")
				}
			}
			if got != tc.want || out.Result != tc.want {
				t.Fatalf("result %s (outcome %s), want %s; receipt %+v", got, out.Result, tc.want, r.Out.Err)
			}
			after := f.keys()
			if tc.writes != (after > before) {
				t.Fatalf("keys %d → %d, writes want %v", before, after, tc.writes)
			}
			if tc.want != "ok" && tc.want != "NotFound" && out.Stored {
				t.Fatal("a refused invocation's receipt is marked stored")
			}
		})
	}
}

func TestArgs(t *testing.T) {
	f := newFixture(t)
	space := mustKey(t)
	cases := []struct {
		name, cmd, args, want, mention string
	}{
		{"missing path", "/dag/get", `{}`, NameInvalidArgs, "args.path"},
		{"path not a string", "/dag/get", `{"path": 7}`, NameInvalidArgs, "string"},
		{"unknown argument", "/dag/get", `{"path": "notes/a", "depth": 1}`, NameInvalidArgs, `"depth"`},
		{"put without value", "/dag/put", `{"path": "notes/a"}`, NameInvalidArgs, "args.value"},
		{"absolute path", "/dag/get", `{"path": "/notes/a"}`, "InvalidPath", "must not start"},
		{"select limit too large", "/dag/select", `{"path": "notes", "limit": 1001}`, NameInvalidArgs, "1000"},
		{"select limit not an int", "/dag/select", `{"path": "notes", "limit": "ten"}`, NameInvalidArgs, "integer"},
		{"bad value", "/dag/put", `{"path": "notes/a", "value": {"title": 3}}`, "InvalidValue", "/title"},
		{"get missing", "/dag/get", `{"path": "notes/zzz"}`, "NotFound", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv := invoke(t, space, space.DID(), "", tc.cmd, tc.args)
			out, err := f.ops.Run(context.Background(), inv, nil, cid.Undef)
			if err != nil {
				t.Fatal(err)
			}
			r := outcomeOf(t, f.service.DID(), out)
			if r.Out.Err == nil || r.Out.Err.Name != tc.want {
				t.Fatalf("out = %+v, want error %s", r.Out, tc.want)
			}
			if !strings.Contains(r.Out.Err.Message, tc.mention) {
				t.Fatalf("message %q does not mention %q", r.Out.Err.Message, tc.mention)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	space := mustKey(t)
	msg := message.CID([]byte("a message"))
	var last Outcome
	run := func(cmd, args string) *receipts.Receipt {
		t.Helper()
		out, err := f.ops.Run(ctx, invoke(t, space, space.DID(), "", cmd, args), nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		last = out
		return outcomeOf(t, f.service.DID(), out)
	}
	// page decodes the page block a select linked from out.ok.page.
	page := func(r *receipts.Receipt) datamodel.Node {
		t.Helper()
		if r.Out.Err != nil {
			t.Fatal(r.Out.Err)
		}
		link, err := r.Out.Ok.LookupByString("page")
		if err != nil {
			t.Fatalf("select out.ok has no page: %v", err)
		}
		l, _ := link.AsLink()
		for _, b := range last.Blocks {
			if b.CID.String() == l.String() {
				n, err := message.BlockNode(message.Block{CID: b.CID, Data: b.Raw})
				if err != nil {
					t.Fatal(err)
				}
				entries, err := n.LookupByString("entries")
				if err != nil {
					t.Fatal(err)
				}
				return entries
			}
		}
		t.Fatalf("page block %s not among the outcome's blocks", l)
		return nil
	}
	for _, k := range []string{"a", "b", "c"} {
		if r := run("/dag/put", `{"path": "notes/`+k+`", "value": {"title": "`+k+`"}}`); r.Out.Err != nil {
			t.Fatalf("put %s: %+v", k, r.Out.Err)
		}
	}
	if r := run("/dag/put", `{"path": "notes/a", "value": {"title": "changed"}}`); r.Out.Err == nil || r.Out.Err.Name != "EntryExists" {
		t.Fatalf("put of another value: %+v", r.Out)
	}
	if entries := page(run("/dag/select", `{"path": "notes", "limit": 2}`)); entries.Length() != 2 {
		t.Fatalf("select page has %d entries, want 2", entries.Length())
	}
	if r := run("/dag/remove", `{"path": "notes/b"}`); r.Out.Err != nil {
		t.Fatalf("remove: %+v", r.Out.Err)
	}
	r := run("/dag/get", `{"path": "notes/b"}`)
	if r.Out.Err != nil {
		t.Fatal(r.Out.Err)
	}
	if len(last.Blocks) == 0 {
		t.Fatal("get carries no head receipt block")
	}
	if entries := page(run("/dag/select", `{"path": "notes", "status": "removed"}`)); entries.Length() != 1 {
		t.Fatalf("select removed has %d entries, want 1", entries.Length())
	}
}

func TestRepeatTask(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	space := mustKey(t)
	in := &ucan.Invocation{Issuer: space.DID(), Subject: space.DID(), Command: CmdPut,
		Args: node(t, `{"path": "notes/a", "value": {"title": "x"}}`)}
	first, err := in.Seal(space, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	in.Expiration = &exp // a different invocation of the same task
	second, err := in.Seal(space, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.ops.Run(ctx, first, nil, cid.Undef)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.ops.Run(ctx, second, nil, cid.Undef)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Repeat || !b.Receipt.CID.Equals(a.Receipt.CID) {
		t.Fatalf("repeat = %v, receipts %s and %s", b.Repeat, a.Receipt.CID, b.Receipt.CID)
	}
}

func TestAuthorizeWatch(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	space, agent := mustKey(t), mustKey(t)
	read := delegate(t, space, agent.DID(), space.DID(), "/dag/get", 0)
	notes, err := dag.ParseRelative(space.DID(), "notes")
	if err != nil {
		t.Fatal(err)
	}
	other, err := dag.ParseRelative(mustKey(t).DID(), "notes")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		inv    *ucan.Token
		proofs []*ucan.Token
		path   dag.Path
		want   string
	}{
		{"delegated read", invoke(t, agent, space.DID(), "", "/dag/get", `{}`, read), []*ucan.Token{read}, notes, ""},
		{"scoped to the path", invoke(t, agent, space.DID(), "", "/dag/get", `{"path": "notes"}`, read), []*ucan.Token{read}, notes, ""},
		{"scoped elsewhere", invoke(t, agent, space.DID(), "", "/dag/get", `{"path": "store"}`, read), []*ucan.Token{read}, notes, ucan.InvalidClaim},
		{"other subject", invoke(t, agent, space.DID(), "", "/dag/get", `{}`, read), []*ucan.Token{read}, other, ucan.InvalidSubject},
		{"put is not a read", invoke(t, agent, space.DID(), "", "/dag/put", `{}`, read), []*ucan.Token{read}, notes, ucan.InvalidClaim},
		{"no chain", invoke(t, agent, space.DID(), "", "/dag/get", `{}`), nil, notes, ucan.InvalidClaim},
		{"owner", invoke(t, space, space.DID(), "", "/dag", `{}`), nil, notes, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.ops.AuthorizeWatch(ctx, tc.inv, ucan.NewProofs(tc.proofs...), tc.path)
			if got := ""; err != nil {
				got = ErrorName(err)
				if got != tc.want {
					t.Fatalf("err = %v (%s), want %q", err, got, tc.want)
				}
			} else if tc.want != "" {
				t.Fatalf("authorised, want %s", tc.want)
			}
		})
	}
}
