package ops

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multibase"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
	"github.com/w3dag/w3dag/ucan/policy"
)

// pinsSchema adds a CID-keyed collection (registered with KeyCID below) beside notes.
const pinsSchema = `
type Space struct {
  notes {String:Note}
  pins {String:Note}
}

type Note struct {
  title String
}
`

func newPinsFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	service := mustKey(t)
	store := mem.New()
	eng, err := dag.Open(context.Background(), dag.Options{KV: store, Signer: service, Schema: schema.MustLoad([]byte(pinsSchema)),
		Collections: []dag.Collection{{Spec: collection.Spec{Name: "pins", Subjects: collection.Space, Key: collection.KeyCID}, Machine: dag.RecordMachine{}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	opts.Engine, opts.Signer = eng, service
	o, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, service: service, store: store, engine: eng, ops: o}
}

func delegateWith(t *testing.T, iss did.Signer, aud, sub, cmd, pol string) *ucan.Token {
	t.Helper()
	p, err := policy.ParseJSON([]byte(pol))
	if err != nil {
		t.Fatal(err)
	}
	d := &ucan.Delegation{Issuer: iss.DID(), Audience: aud, Subject: sub, Command: cmd, Policy: p, Nonce: ucan.NewNonce()}
	tok, err := d.Seal(iss, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func cidOf(t *testing.T, s string) cid.Cid {
	t.Helper()
	c, err := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: multihash.SHA2_256, MhLength: -1}.Sum([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func spell(t *testing.T, c cid.Cid, base multibase.Encoding) string {
	t.Helper()
	s, err := c.StringOfBase(base)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPolicyCanonicalPath: a delegation whose policy denies one entry of a CID-keyed
// collection denies it by every spelling of the CID, through a field below it, in a
// select of the collection and in a watch of it (issue 10, finding 1).
func TestPolicyCanonicalPath(t *testing.T) {
	f := newPinsFixture(t, Options{})
	ctx := context.Background()
	space, agent := mustKey(t), mustKey(t)
	secret, open := cidOf(t, "secret"), cidOf(t, "open")
	for _, c := range []cid.Cid{secret, open} {
		out, err := f.ops.Run(ctx, invoke(t, space, space.DID(), "", CmdPut, `{"path": "pins/`+c.String()+`", "value": {"title": "t"}}`), nil, cid.Undef)
		if err != nil || out.Result != "ok" {
			t.Fatalf("put %s: %v %s", c, err, out.Result)
		}
	}
	deny := delegateWith(t, space, agent.DID(), space.DID(), "/dag", `[["!=", ".path", "pins/`+secret.String()+`"]]`)
	proofs := ucan.NewProofs(deny)
	run := func(cmd, args string) (Outcome, *receipts.Receipt) {
		t.Helper()
		out, err := f.ops.Run(ctx, invoke(t, agent, space.DID(), "", cmd, args, deny), proofs, cid.Undef)
		if err != nil {
			t.Fatal(err)
		}
		return out, outcomeOf(t, f.service.DID(), out)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"base32", "pins/" + secret.String(), ucan.MatchError},
		{"base58btc", "pins/" + spell(t, secret, multibase.Base58BTC), ucan.MatchError},
		{"base36", "pins/" + spell(t, secret, multibase.Base36), ucan.MatchError},
		{"upper-case base32", "pins/" + spell(t, secret, multibase.Base32Upper), ucan.MatchError},
		{"sub-path", "pins/" + secret.String() + "/title", ucan.MatchError},
		{"sub-path base58btc", "pins/" + spell(t, secret, multibase.Base58BTC) + "/title", ucan.MatchError},
		{"another entry", "pins/" + spell(t, open, multibase.Base58BTC), "ok"},
		// authorised: the field lookup runs (and finds no such field in the head receipt)
		{"another entry's field", "pins/" + open.String() + "/title", "NotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, r := run(CmdGet, `{"path": "`+tc.path+`"}`)
			if out.Result != tc.want {
				t.Fatalf("get %s: %s, want %s (%+v)", tc.path, out.Result, tc.want, r.Out.Err)
			}
		})
	}
	t.Run("select", func(t *testing.T) {
		out, r := run(CmdSelect, `{"path": "pins"}`)
		if out.Result != "ok" {
			t.Fatalf("select: %s %+v", out.Result, r.Out.Err)
		}
		keys := pageKeys(t, out, r)
		if len(keys) != 1 || keys[0] != open.String() {
			t.Fatalf("select lists %v, want only %s", keys, open)
		}
	})
	t.Run("watch", func(t *testing.T) {
		inv := invoke(t, agent, space.DID(), "", CmdGet, `{"path": "pins"}`, deny)
		p := dag.Path{Subject: space.DID(), Collection: "pins"}
		allow, err := f.ops.AuthorizeWatch(ctx, inv, proofs, p)
		if err != nil {
			t.Fatal(err)
		}
		if allow == nil {
			t.Fatal("a watch under a path-denying policy shows every entry")
		}
		for _, tc := range []struct {
			key, field string
			want       bool
		}{{secret.String(), "", false}, {secret.String(), "title", false}, {open.String(), "", true}} {
			ep := dag.Path{Subject: space.DID(), Collection: "pins", Key: tc.key}
			if tc.field != "" {
				ep.Fields = []string{tc.field}
			}
			if got := allow(ep); got != tc.want {
				t.Errorf("watch shows %s: %v, want %v", ep, got, tc.want)
			}
		}
	})
}

// pageKeys returns the keys of the entries of a select's page block.
func pageKeys(t *testing.T, out Outcome, r *receipts.Receipt) []string {
	t.Helper()
	link, err := r.Out.Ok.LookupByString("page")
	if err != nil {
		t.Fatal(err)
	}
	l, _ := link.AsLink()
	for _, b := range out.Blocks {
		if b.CID.String() != l.String() {
			continue
		}
		n, err := message.BlockNode(message.Block{CID: b.CID, Data: b.Raw})
		if err != nil {
			t.Fatal(err)
		}
		entries, _ := n.LookupByString("entries")
		var keys []string
		for it := entries.ListIterator(); !it.Done(); {
			_, e, _ := it.Next()
			kn, err := e.LookupByString("key")
			if err != nil {
				t.Fatalf("page entry without key: %v", err)
			}
			s, _ := kn.AsString()
			keys = append(keys, s)
		}
		return keys
	}
	t.Fatal("no page block")
	return nil
}

// cpuTime is the process's user+system CPU time.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestBudgetPolicyAmplification reproduces issue 10's policy amplification: a chain of 16
// delegations of 68 "all" statements each over a 20,000-element list in args (4.6 CPU-s
// per invocation before the message budget). Now the message's steps are bounded by
// --message-work, the refusal is BudgetExceeded naming it, and the CPU time is bounded.
func TestBudgetPolicyAmplification(t *testing.T) {
	f := newPinsFixture(t, Options{})
	ctx := context.Background()
	space := mustKey(t)
	var stmts []string
	for range 68 {
		stmts = append(stmts, `["all", ".value.list", [">=", ".", 0]]`)
	}
	pol := "[" + strings.Join(stmts, ",") + "]"
	var chain []*ucan.Token
	iss := space
	var last did.Signer
	for range 16 {
		next := mustKey(t)
		chain = append(chain, delegateWith(t, iss, next.DID(), space.DID(), "/dag", pol))
		iss, last = next, next
	}
	list := strings.TrimSuffix(strings.Repeat("1,", 20000), ",")
	args := fmt.Sprintf(`{"path": "notes/x", "value": {"title": "t", "list": [%s]}}`, list)
	inv := invoke(t, last, space.DID(), "", CmdPut, args, chain...)
	b := f.ops.NewBudget()
	start := cpuTime(t)
	out, err := f.ops.Exec(ctx, f.ops.Check(inv, ucan.NewProofs(chain...), b), cid.Undef)
	spent := cpuTime(t) - start
	if err != nil {
		t.Fatal(err)
	}
	r := outcomeOf(t, f.service.DID(), out)
	if out.Result != NameBudgetExceeded || r.Out.Err == nil || !strings.Contains(r.Out.Err.Message, LimitMessageWork) {
		t.Fatalf("outcome %s %+v, want %s naming %s", out.Result, r.Out.Err, NameBudgetExceeded, LimitMessageWork)
	}
	if out.Stored {
		t.Fatal("a refused invocation's receipt is stored")
	}
	// Steps: never more than the budget plus one chunk per concurrent evaluation.
	if left := b.Left(); left < -2048 {
		t.Fatalf("budget overdrawn to %d", left)
	}
	// 2^20 steps are ~70 ms; 4.6 s before. A generous bound for a loaded machine.
	if spent > 2*time.Second {
		t.Fatalf("one invocation took %v of CPU", spent)
	}
	t.Logf("refused in %v CPU: %s", spent, r.Out.Err.Message)

	// A second invocation in the same message finds the budget spent.
	honest := invoke(t, space, space.DID(), "", CmdPut, `{"path": "notes/y", "value": {"title": "y"}}`)
	if out, err := f.ops.Exec(ctx, f.ops.Check(honest, nil, b), cid.Undef); err != nil || out.Result != NameBudgetExceeded {
		t.Fatalf("second invocation of a spent message: %v %s", err, out.Result)
	}
	// With a message of its own the honest invocation runs.
	if out, err := f.ops.Exec(ctx, f.ops.Check(honest, nil, nil), cid.Undef); err != nil || out.Result != "ok" {
		t.Fatalf("honest invocation: %v %s", err, out.Result)
	}
}

// TestBudgetProofs: the proofs of a message's invocations are counted together.
func TestBudgetProofs(t *testing.T) {
	f := newPinsFixture(t, Options{MessageProofs: 2})
	space, agent := mustKey(t), mustKey(t)
	d := delegate(t, space, agent.DID(), space.DID(), "/dag", 0)
	b := f.ops.NewBudget()
	for i, want := range []string{"ok", "ok", NameBudgetExceeded} {
		inv := invoke(t, agent, space.DID(), "", CmdGet, `{"path": "notes/a"}`, d)
		out, err := f.ops.Exec(context.Background(), f.ops.Check(inv, ucan.NewProofs(d), b), cid.Undef)
		if err != nil {
			t.Fatal(err)
		}
		got := out.Result
		if got == "NotFound" {
			got = "ok"
		}
		if got != want {
			t.Fatalf("invocation %d: %s, want %s", i, out.Result, want)
		}
		if want == NameBudgetExceeded && !strings.Contains(outcomeOf(t, f.service.DID(), out).Out.Err.Message, LimitMessageProofs) {
			t.Fatal("refusal does not name", LimitMessageProofs)
		}
	}
}

// TestBudgetReplyBytes: the selects of one message share its reply bytes; once they are
// taken a further select is refused naming message-reply-bytes.
func TestBudgetReplyBytes(t *testing.T) {
	f := newPinsFixture(t, Options{SelectPageBytes: 1 << 20, MessageReplyBytes: 5 << 19})
	space := mustKey(t)
	b := f.ops.NewBudget()
	for i, want := range []string{"ok", "ok", "ok", NameBudgetExceeded} {
		inv := invoke(t, space, space.DID(), "", CmdSelect, `{"path": "notes"}`)
		out, err := f.ops.Exec(context.Background(), f.ops.Check(inv, nil, b), cid.Undef)
		if err != nil {
			t.Fatal(err)
		}
		if out.Result != want {
			t.Fatalf("select %d: %s, want %s", i, out.Result, want)
		}
		if want != "ok" && !strings.Contains(outcomeOf(t, f.service.DID(), out).Out.Err.Message, LimitMessageReply) {
			t.Fatal("refusal does not name", LimitMessageReply)
		}
	}
}
