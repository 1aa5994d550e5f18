package ops

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
)

// newPublicFixture opens an engine whose service collections carwhere and metrics are
// public (collection.Spec.PublicRead; task, piece and aggregate are left to the schema and
// are not), with Ops that honour it when public is true and not otherwise.
func newPublicFixture(t *testing.T, public bool) *fixture {
	t.Helper()
	service := mustKey(t)
	store := mem.New()
	eng, err := dag.Open(context.Background(), dag.Options{KV: store, Signer: service, Schema: schema.MustLoad(),
		Collections: []dag.Collection{
			{Spec: collection.Spec{Name: "carwhere", Subjects: collection.Service, Key: collection.KeyCARCID, Writers: collection.ServiceOnly, PublicRead: true}},
			{Spec: collection.Spec{Name: "metrics", Subjects: collection.Space | collection.Service, Writers: collection.ServiceOnly, PublicRead: true}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	opts := Options{Engine: eng, Signer: service}
	if public {
		opts.PublicRead = eng.PublicRead
	}
	o, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, service: service, store: store, engine: eng, ops: o}
}

func carCID(t *testing.T, data string) cid.Cid {
	t.Helper()
	c, err := cid.Prefix{Version: 1, Codec: collection.CodecCAR, MhType: 0x12, MhLength: -1}.Sum([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tampered returns tok with a flipped bit in its signature.
func tampered(t *testing.T, tok *ucan.Token) *ucan.Token {
	t.Helper()
	raw := bytes.Clone(tok.Raw)
	raw[5] ^= 0x80
	out, err := ucan.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// expiring seals an invocation like invoke's with exp set.
func expiring(t *testing.T, f *fixture, exp int64, cmd, args string) *ucan.Token {
	t.Helper()
	agent := mustKey(t)
	in := &ucan.Invocation{Issuer: agent.DID(), Subject: f.service.DID(), Command: cmd, Args: node(t, args), Nonce: ucan.NewNonce(), Expiration: &exp}
	tok, err := in.Seal(agent, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestPublicReads(t *testing.T) {
	f := newPublicFixture(t, true)
	closed := newPublicFixture(t, false)
	svc := f.service.DID()
	agent, space := mustKey(t), mustKey(t)
	getCar := `{"path": "carwhere/` + carCID(t, "a car").String() + `"}`
	past := time.Now().Add(-time.Hour).Unix()
	future := time.Now().Add(time.Hour).Unix()
	serviceAll := delegate(t, f.service, agent.DID(), svc, "/", 0)

	cases := []struct {
		name   string
		f      *fixture
		inv    *ucan.Token
		proofs []*ucan.Token
		want   string // "ok" or the receipt error name
	}{
		{"get carwhere without proof", f, invoke(t, agent, svc, svc, CmdGet, getCar), nil, "NotFound"},
		{"get carwhere without audience", f, invoke(t, agent, svc, "", CmdGet, getCar), nil, "NotFound"},
		{"get a field of carwhere", f, invoke(t, agent, svc, "", CmdGet, `{"path": "carwhere/`+carCID(t, "a car").String()+`/status"}`), nil, "NotFound"},
		{"select carwhere without proof", f, invoke(t, agent, svc, svc, CmdSelect, `{"path": "carwhere", "limit": 10}`), nil, "ok"},
		{"get service metrics without proof", f, invoke(t, agent, svc, "", CmdGet, `{"path": "metrics/puts"}`), nil, "NotFound"},
		{"unexpired invocation", f, expiring(t, f, future, CmdGet, getCar), nil, "NotFound"},
		{"bad signature", f, tampered(t, invoke(t, agent, svc, svc, CmdGet, getCar)), nil, ucan.InvalidSignature},
		{"expired invocation", f, expiring(t, f, past, CmdGet, getCar), nil, ucan.Expired},
		{"wrong audience", f, invoke(t, agent, svc, space.DID(), CmdGet, getCar), nil, ucan.InvalidAudience},
		{"task is private", f, invoke(t, agent, svc, "", CmdGet, `{"path": "task/`+carCID(t, "t").String()+`"}`), nil, ucan.InvalidClaim},
		{"select task is private", f, invoke(t, agent, svc, "", CmdSelect, `{"path": "task"}`), nil, ucan.InvalidClaim},
		{"a space's metrics are the space's", f, invoke(t, agent, space.DID(), "", CmdGet, `{"path": "metrics/puts"}`), nil, ucan.InvalidClaim},
		{"bad args need authority", f, invoke(t, agent, svc, "", CmdGet, `{"path": "carwhere", "depth": 1}`), nil, ucan.InvalidClaim},
		{"bad key needs authority", f, invoke(t, agent, svc, "", CmdGet, `{"path": "carwhere/notacid"}`), nil, ucan.InvalidClaim},
		{"put without proof", f, invoke(t, agent, svc, "", CmdPut, `{"path": "carwhere/`+carCID(t, "a car").String()+`", "value": {}}`), nil, ucan.InvalidClaim},
		{"remove without proof", f, invoke(t, agent, svc, "", CmdRemove, getCar), nil, ucan.InvalidClaim},
		{"put by a delegate", f, invoke(t, agent, svc, "", CmdPut, `{"path": "metrics/x", "value": {}}`, serviceAll), []*ucan.Token{serviceAll}, ucan.InvalidClaim},
		{"public reads off: get", closed, invoke(t, agent, closed.service.DID(), "", CmdGet, getCar), nil, ucan.InvalidClaim},
		{"public reads off: select", closed, invoke(t, agent, closed.service.DID(), "", CmdSelect, `{"path": "carwhere"}`), nil, ucan.InvalidClaim},
	}
	// Why a read with no proof was refused, when that is why.
	mentions := map[string]string{
		"task is private":                   "/task/" + carCID(t, "t").String() + " is not public to read",
		"select task is private":            "/task is not public to read, so reading it needs a delegation from the service",
		"public reads off: get":             "public reads turned off",
		"a space's metrics are the space's": "only the subject may invoke",
		"bad key needs authority":           "only the subject may invoke",
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.f.keys()
			out, err := tc.f.ops.Run(context.Background(), tc.inv, ucan.NewProofs(tc.proofs...), cid.Undef)
			if err != nil {
				t.Fatal(err)
			}
			r := outcomeOf(t, tc.f.service.DID(), out)
			got := "ok"
			if r.Out.Err != nil {
				got = r.Out.Err.Name
			}
			if got != tc.want {
				t.Fatalf("result %s, want %s; receipt %+v", got, tc.want, r.Out.Err)
			}
			if m := mentions[tc.name]; m != "" && !strings.Contains(r.Out.Err.Message, m) {
				t.Fatalf("message %q does not say %q", r.Out.Err.Message, m)
			}
			if after := tc.f.keys(); after != before || out.Stored {
				t.Fatalf("keys %d → %d, stored %v: a read or a refusal wrote", before, after, out.Stored)
			}
		})
	}
}

func TestPublicWatch(t *testing.T) {
	f := newPublicFixture(t, true)
	closed := newPublicFixture(t, false)
	ctx := context.Background()
	svc := f.service.DID()
	agent, space := mustKey(t), mustKey(t)
	at := func(f *fixture, rel string) dag.Path {
		t.Helper()
		p, err := dag.ParseRelative(f.service.DID(), rel)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	subject := dag.Path{Subject: svc}
	cases := []struct {
		name string
		f    *fixture
		inv  *ucan.Token
		path dag.Path
		want string
	}{
		{"carwhere without proof", f, invoke(t, agent, svc, svc, CmdGet, `{}`), at(f, "carwhere"), ""},
		{"scoped to carwhere", f, invoke(t, agent, svc, "", CmdGet, `{"path": "carwhere"}`), at(f, "carwhere"), ""},
		{"with /dag", f, invoke(t, agent, svc, "", "/dag", `{}`), at(f, "carwhere"), ""},
		{"service metrics", f, invoke(t, agent, svc, "", CmdGet, `{}`), at(f, "metrics"), ""},
		{"put is not a read", f, invoke(t, agent, svc, "", CmdPut, `{}`), at(f, "carwhere"), ucan.InvalidClaim},
		{"scoped elsewhere", f, invoke(t, agent, svc, "", CmdGet, `{"path": "task"}`), at(f, "carwhere"), ucan.InvalidClaim},
		{"bad signature", f, tampered(t, invoke(t, agent, svc, "", CmdGet, `{}`)), at(f, "carwhere"), ucan.InvalidSignature},
		{"expired", f, expiring(t, f, time.Now().Add(-time.Hour).Unix(), CmdGet, `{}`), at(f, "carwhere"), ucan.Expired},
		{"wrong audience", f, invoke(t, agent, svc, space.DID(), CmdGet, `{}`), at(f, "carwhere"), ucan.InvalidAudience},
		{"task is private", f, invoke(t, agent, svc, "", CmdGet, `{}`), at(f, "task"), ucan.InvalidClaim},
		{"the whole service is private", f, invoke(t, agent, svc, "", CmdGet, `{}`), subject, ucan.InvalidClaim},
		{"public reads off", closed, invoke(t, agent, closed.service.DID(), "", CmdGet, `{}`), at(closed, "carwhere"), ucan.InvalidClaim},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.f.ops.AuthorizeWatch(ctx, tc.inv, nil, tc.path)
			got := ""
			if err != nil {
				got = ErrorName(err)
			}
			if got != tc.want {
				t.Fatalf("err = %v (%q), want %q", err, got, tc.want)
			}
			if tc.name == "task is private" && !strings.Contains(err.Error(), "/task is not public to read") {
				t.Fatalf("err = %v, want it to say task is not public", err)
			}
		})
	}
}
