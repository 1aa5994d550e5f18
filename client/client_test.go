package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/container"
	"github.com/w3dag/w3dag/ucan/did"
)

// fakeService is a tiny stand-in for a w3dag server: it validates invocations with the ucan
// validator and answers each with a receipt whose ok echoes the args, so the client's
// transport, proof selection and receipt checks can be tested without the engine.
type fakeService struct {
	t      testing.TB
	signer did.Signer
	// receiptSigner signs receipts; a different key than signer makes them invalid.
	receiptSigner did.Signer
	// wrongRan makes receipts name another invocation.
	wrongRan bool

	mu       sync.Mutex
	receipts map[cid.Cid]*ucan.Token
	heads    map[string]cid.Cid
	seq      uint64
}

func newFake(t testing.TB) (*fakeService, *httptest.Server) {
	t.Helper()
	s, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeService{t: t, signer: s, receiptSigner: s, receipts: map[cid.Cid]*ucan.Token{}, heads: map[string]cid.Cid{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/.well-known/did.json":
		fmt.Fprintf(w, `{"id":%q}`, f.signer.DID())
	case r.URL.Path == "/ucan" && r.Method == http.MethodPost:
		f.ucan(w, r)
	case strings.HasPrefix(r.URL.Path, "/receipts/"):
		f.receipt(w, r)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"name":"NotFound","message":"no route"}`)
	}
}

func (f *fakeService) ucan(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m, err := message.Decode(body, message.Limits{})
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"name":"MalformedMessage","message":%q}}`, err.Error())
		return
	}
	blocks := m.Index()
	var tokens []*ucan.Token
	for _, b := range m.Blocks {
		if t, err := ucan.Decode(b.Data); err == nil {
			tokens = append(tokens, t)
		}
	}
	proofs := ucan.NewProofs(tokens...)
	v := ucan.NewValidator(ucan.ValidatorOptions{})
	reply := &message.Message{}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ic := range m.Invocations {
		inv, err := ucan.Decode(blocks[ic])
		if err != nil {
			f.t.Errorf("fake: invocation %s: %v", ic, err)
			continue
		}
		rc := receipts.Receipt{Ran: inv.CID, TS: time.Now().UnixMilli()}
		if f.wrongRan {
			rc.Ran = message.Sum(0x71, []byte("something else"))
		}
		path := "/" + inv.Invocation.Subject + "/" + argString(inv.Invocation.Args, "path")
		if h, ok := f.heads[path]; ok && inv.Invocation.Command == CmdGet && !f.wrongRan {
			// Like the engine, answer a read with the entry's head receipt.
			reply.Receipts = append(reply.Receipts, message.Receipt{Invocation: inv.CID, Receipt: h})
			reply.Blocks = append(reply.Blocks, message.Block{CID: h, Data: f.receipts[h].Raw})
			continue
		}
		if f.wrongRan {
			path = "/" + inv.Invocation.Subject + "/elsewhere"
		}
		if err := v.Validate(inv, proofs); err != nil {
			var ue *ucan.Error
			errors.As(err, &ue)
			rc.Out.Err = &receipts.Failure{Name: ue.Name, Message: ue.Message}
		} else {
			f.seq++
			rc.Seq = f.seq
			rc.Path = path
			if h, ok := f.heads[path]; ok {
				rc.Origin = &h
			}
			if inv.Invocation.Command == CmdSelect {
				// Like the engine: out.ok links a page block carried in the reply.
				pg, _ := qp.BuildMap(basicnode.Prototype.Any, 1, func(ma datamodel.MapAssembler) {
					qp.MapEntry(ma, "entries", qp.List(1, func(la datamodel.ListAssembler) {
						qp.ListEntry(la, qp.Map(3, func(ma datamodel.MapAssembler) {
							qp.MapEntry(ma, "key", qp.String("a"))
							qp.MapEntry(ma, "head", qp.Link(cidlink.Link{Cid: message.Sum(0x71, []byte("head"))}))
							qp.MapEntry(ma, "state", qp.Map(1, func(ma datamodel.MapAssembler) {
								qp.MapEntry(ma, "status", qp.String("done"))
							}))
						}))
					}))
				})
				var buf bytes.Buffer
				dagcbor.Encode(pg, &buf)
				blk := message.NewBlock(0x71, buf.Bytes())
				reply.Blocks = append(reply.Blocks, blk)
				rc.Out.Ok, _ = qp.BuildMap(basicnode.Prototype.Any, 3, func(ma datamodel.MapAssembler) {
					qp.MapEntry(ma, "page", qp.Link(cidlink.Link{Cid: blk.CID}))
					qp.MapEntry(ma, "count", qp.Int(1))
					qp.MapEntry(ma, "args", qp.Node(inv.Invocation.Args))
				})
			} else {
				rc.Out.Ok, _ = qp.BuildMap(basicnode.Prototype.Any, -1, func(ma datamodel.MapAssembler) {
					qp.MapEntry(ma, "status", qp.String("done"))
					qp.MapEntry(ma, "cmd", qp.String(inv.Invocation.Command))
					qp.MapEntry(ma, "entries", qp.List(0, func(datamodel.ListAssembler) {}))
					qp.MapEntry(ma, "args", qp.Node(inv.Invocation.Args))
				})
			}
		}
		tok, err := receipts.Issue(f.receiptSigner, rc, ucan.SealOptions{})
		if err != nil {
			f.t.Errorf("fake: issuing: %v", err)
			continue
		}
		if rc.Out.Ok != nil {
			f.heads[path] = tok.CID
		}
		f.receipts[tok.CID] = tok
		reply.Receipts = append(reply.Receipts, message.Receipt{Invocation: inv.CID, Receipt: tok.CID})
		reply.Blocks = append(reply.Blocks, message.Block{CID: tok.CID, Data: tok.Raw})
	}
	out, err := message.Encode(reply)
	if err != nil {
		f.t.Errorf("fake: encoding reply: %v", err)
	}
	w.Header().Set("Content-Type", message.ContentTypeCAR)
	w.Write(out)
}

func (f *fakeService) receipt(w http.ResponseWriter, r *http.Request) {
	c, err := cid.Decode(strings.TrimPrefix(r.URL.Path, "/receipts/"))
	f.mu.Lock()
	defer f.mu.Unlock()
	tok, ok := f.receipts[c]
	if err != nil || !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"name":"NotFound","message":"no such receipt"}`)
		return
	}
	if r.URL.Query().Get("chain") == "" {
		w.Header().Set("Content-Type", message.ContentTypeDAGCBOR)
		w.Write(tok.Raw)
		return
	}
	// Pages of one receipt: the client must follow the chain page by page.
	out, _ := message.EncodeCAR([]cid.Cid{tok.CID}, []message.Block{{CID: tok.CID, Data: tok.Raw}})
	w.Header().Set("Content-Type", message.ContentTypeCAR)
	w.Write(out)
}

func argString(n datamodel.Node, key string) string {
	v, err := n.LookupByString(key)
	if err != nil {
		return ""
	}
	s, _ := v.AsString()
	return s
}

// agentWithSpace returns an agent key and a space whose key delegated `/` to the agent.
func agentWithSpace(t testing.TB) (did.Signer, string, *ucan.Token) {
	t.Helper()
	agent, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	space, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	dlg, err := (&ucan.Delegation{Issuer: space.DID(), Audience: agent.DID(), Subject: space.DID(), Command: "/", Nonce: ucan.NewNonce()}).Seal(space, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return agent, space.DID(), dlg
}

func TestClientOperations(t *testing.T) {
	ctx := context.Background()
	_, srv := newFake(t)
	agent, space, dlg := agentWithSpace(t)
	c, err := New(Options{URL: srv.URL, Signer: agent, Proofs: []*ucan.Token{dlg}})
	if err != nil {
		t.Fatal(err)
	}
	path := "/" + space + "/things/a"
	r1, err := c.Put(ctx, path, basicnode.NewString("v"))
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if r1.Status() != "done" || r1.Path != path || r1.Origin != nil {
		t.Fatalf("put receipt: status %q path %q origin %v", r1.Status(), r1.Path, r1.Origin)
	}
	g, err := c.Get(ctx, path)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if !g.Earlier || !g.CID.Equals(r1.CID) {
		t.Fatalf("get: earlier %t receipt %s, want the head %s", g.Earlier, g.CID, r1.CID)
	}
	if _, err := c.Get(ctx, path+"/field"); err != nil {
		t.Fatalf("get of a field: %v", err)
	}
	r2, err := c.Remove(ctx, path)
	if err != nil {
		t.Fatalf("remove: %v", err)
	}
	if r2.Origin == nil || !r2.Origin.Equals(r1.CID) {
		t.Fatalf("remove origin %v, want %s", r2.Origin, r1.CID)
	}
	chain, err := c.Chain(ctx, r2.CID)
	if err != nil {
		t.Fatalf("chain: %v", err)
	}
	if len(chain) != 2 || !chain[0].CID.Equals(r2.CID) || !chain[1].CID.Equals(r1.CID) {
		t.Fatalf("chain has %d receipts", len(chain))
	}
	page, err := c.Select(ctx, "/"+space+"/things", Query{Limit: 5, Cursor: "x", Status: "done"})
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	if len(page.Entries) != 1 || page.Entries[0].Key != "a" || page.Entries[0].Status != "done" || !page.Entries[0].Head.Defined() {
		t.Errorf("select page %+v", page.Entries)
	}
	args, _ := page.Receipt.Ok.LookupByString("args")
	for k, want := range map[string]string{"path": "things", "cursor": "x", "status": "done"} {
		if got := argString(args, k); got != want {
			t.Errorf("select args.%s = %q, want %q", k, got, want)
		}
	}

	// Batches: one message, receipts in order.
	var invs []*Invocation
	for i := range 3 {
		inv, err := c.NewInvocation(ctx, CmdPut, fmt.Sprintf("%s/things/%d", "/"+space, i), Args{"value": basicnode.NewInt(int64(i))})
		if err != nil {
			t.Fatal(err)
		}
		invs = append(invs, inv)
	}
	rs, err := c.Send(ctx, invs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if !r.Ran.Equals(invs[i].Token.CID) {
			t.Errorf("receipt %d ran %s, want %s", i, r.Ran, invs[i].Token.CID)
		}
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	f, srv := newFake(t)
	agent, space, dlg := agentWithSpace(t)

	// No proof held: the client refuses before sending.
	bare, err := New(Options{URL: srv.URL, Signer: agent})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bare.Get(ctx, "/"+space+"/things/a"); !errors.Is(err, ErrNoProof) {
		t.Fatalf("get without proof: %v, want ErrNoProof", err)
	}

	// An invocation sent without its proof gets an error receipt from the service.
	c, err := New(Options{URL: srv.URL, Signer: agent, Proofs: []*ucan.Token{dlg}})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := c.NewInvocation(ctx, CmdGet, "/"+space+"/things/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	inv.Proofs = nil
	rs, err := c.Send(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	var re *ReceiptError
	if !errors.As(rs[0].Err(), &re) || re.Name == "" {
		t.Fatalf("receipt error %v, want a named ReceiptError", rs[0].Err())
	}

	// Transport errors come back as *HTTPError with the JSON name.
	if _, err := c.Receipt(ctx, inv.Token.CID); err == nil {
		t.Fatal("receipt of an unknown CID succeeded")
	} else {
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != 404 || he.Name != "NotFound" {
			t.Fatalf("unknown receipt: %v, want HTTPError 404 NotFound", err)
		}
	}

	// Receipts naming another invocation, or signed by another key, are rejected.
	f.wrongRan = true
	if _, err := c.Get(ctx, "/"+space+"/things/a"); !errors.Is(err, ErrInvalidReceipt) {
		t.Fatalf("wrong ran: %v, want ErrInvalidReceipt", err)
	}
	f.wrongRan = false
	other, _ := did.GenerateEd25519()
	f.receiptSigner = other
	_, err = c.Get(ctx, "/"+space+"/things/a")
	var ws *WrongServiceError
	if !errors.Is(err, ErrInvalidReceipt) || !errors.Is(err, receipts.ErrWrongIssuer) || !errors.As(err, &ws) {
		t.Fatalf("wrong signer: %v, want a *WrongServiceError (ErrInvalidReceipt, receipts.ErrWrongIssuer)", err)
	}
	if ws.Issuer != other.DID() || ws.Service != f.signer.DID() || ws.URL != srv.URL || !ws.Receipt.Defined() {
		t.Errorf("wrong signer: %+v, want issuer %s, service %s, URL %s", ws, other.DID(), f.signer.DID(), srv.URL)
	}
	if strings.Count(err.Error(), other.DID()) != 1 || strings.Count(err.Error(), f.signer.DID()) != 1 {
		t.Errorf("wrong signer: %q should name each DID once", err)
	}
	// Fetched receipts and chains are checked the same way.
	f.receiptSigner = f.signer
	trusting, err := New(Options{URL: srv.URL, Signer: agent, ServiceDID: other.DID(), Proofs: []*ucan.Token{dlg}})
	if err != nil {
		t.Fatal(err)
	}
	rcpt := rs[0].CID
	for name, fetch := range map[string]func() error{
		"receipt": func() error { _, err := trusting.Receipt(ctx, rcpt); return err },
		"chain":   func() error { _, err := trusting.Chain(ctx, rcpt); return err },
	} {
		err := fetch()
		if !errors.As(err, &ws) || ws.Issuer != f.signer.DID() || ws.Service != other.DID() || ws.URL != srv.URL {
			t.Errorf("%s signed by another DID: %v, want a *WrongServiceError", name, err)
		}
	}

	if _, err := New(Options{}); !errors.Is(err, ErrNoSigner) {
		t.Fatalf("New without signer: %v", err)
	}
	if _, err := New(Options{Signer: agent, URL: "ftp://x"}); err == nil {
		t.Fatal("New accepted an ftp URL")
	}
}

func TestFindChain(t *testing.T) {
	mk := func(iss did.Signer, aud, sub, cmd string, exp *int64) *ucan.Token {
		t.Helper()
		tok, err := (&ucan.Delegation{Issuer: iss.DID(), Audience: aud, Subject: sub, Command: cmd, Nonce: ucan.NewNonce(), Expiration: exp}).Seal(iss, ucan.SealOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	space, _ := did.GenerateEd25519()
	alice, _ := did.GenerateEd25519()
	bob, _ := did.GenerateEd25519()
	past := int64(1000)
	now := time.Now().Unix()
	edge, gone := now, now-1
	aliceBobEdge := mk(alice, bob.DID(), space.DID(), "/dag/get", &edge)
	aliceBobGone := mk(alice, bob.DID(), space.DID(), "/dag/get", &gone)
	rootAll := mk(space, alice.DID(), space.DID(), "/", nil)
	aliceBobGet := mk(alice, bob.DID(), space.DID(), "/dag/get", nil)
	aliceBobOld := mk(alice, bob.DID(), space.DID(), "/dag", &past)
	powerline := mk(alice, bob.DID(), "", "/dag/select", nil)
	tests := []struct {
		name   string
		proofs []*ucan.Token
		agent  string
		cmd    string
		want   []*ucan.Token
		err    bool
	}{
		{"direct", []*ucan.Token{rootAll}, alice.DID(), "/dag/put", []*ucan.Token{rootAll}, false},
		{"two hops root first", []*ucan.Token{aliceBobGet, rootAll}, bob.DID(), "/dag/get", []*ucan.Token{rootAll, aliceBobGet}, false},
		{"command not covered", []*ucan.Token{aliceBobGet, rootAll}, bob.DID(), "/dag/put", nil, true},
		{"expired skipped", []*ucan.Token{aliceBobOld, rootAll}, bob.DID(), "/dag/put", nil, true},
		{"valid through its exp second", []*ucan.Token{aliceBobEdge, rootAll}, bob.DID(), "/dag/get", []*ucan.Token{rootAll, aliceBobEdge}, false},
		{"expired a second ago", []*ucan.Token{aliceBobGone, rootAll}, bob.DID(), "/dag/get", nil, true},
		{"powerline", []*ucan.Token{powerline, rootAll}, bob.DID(), "/dag/select", []*ucan.Token{rootAll, powerline}, false},
		{"self", nil, space.DID(), "/dag/put", nil, false},
		{"none", nil, bob.DID(), "/dag/get", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindChain(tt.proofs, space.DID(), tt.agent, tt.cmd, now)
			if tt.err {
				if !errors.Is(err, ErrNoProof) {
					t.Fatalf("err %v, want ErrNoProof", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("chain of %d, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !got[i].CID.Equals(tt.want[i].CID) {
					t.Errorf("chain[%d] = %s, want %s", i, got[i].CID, tt.want[i].CID)
				}
			}
		})
	}
}

// TestUnreachable checks that a service that cannot be reached is an *UnreachableError naming
// the URL and the cause, from every call that talks to it, and that other failures are not.
func TestUnreachable(t *testing.T) {
	agent, space, dlg := agentWithSpace(t)
	_, srv := newFake(t)
	up := srv.URL
	dead := httptest.NewServer(http.NotFoundHandler())
	down := dead.URL
	dead.Close()
	mk := func(url, service string) *Client {
		c, err := New(Options{URL: url, Signer: agent, ServiceDID: service, Proofs: []*ucan.Token{dlg}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	svc, _ := did.GenerateEd25519()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	path := "/" + space + "/things/a"
	tests := []struct {
		name        string
		call        func() error
		unreachable bool
	}{
		{"fetch DID", func() error { _, err := FetchServiceDID(context.Background(), nil, down+"/"); return err }, true},
		{"get, DID unknown", func() error { _, err := mk(down, "").Get(context.Background(), path); return err }, true},
		{"get, DID pinned", func() error { _, err := mk(down, svc.DID()).Get(context.Background(), path); return err }, true},
		{"receipt", func() error { _, err := mk(down, svc.DID()).Receipt(context.Background(), dlg.CID); return err }, true},
		{"watch", func() error {
			return mk(down, svc.DID()).Watch(context.Background(), path, "", func(Event) error { return ErrStop })
		}, true},
		{"cancelled", func() error { _, err := mk(down, svc.DID()).Get(cancelled, path); return err }, false},
		{"HTTP error", func() error { _, err := mk(up, svc.DID()).Receipt(context.Background(), dlg.CID); return err }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var ue *UnreachableError
			if got := errors.As(err, &ue); got != tt.unreachable {
				t.Fatalf("%v: unreachable %t, want %t", err, got, tt.unreachable)
			}
			if !tt.unreachable {
				return
			}
			if ue.URL != down || ue.Cause() != "connection refused" {
				t.Errorf("URL %q cause %q, want %q and connection refused", ue.URL, ue.Cause(), down)
			}
			if strings.Count(err.Error(), down) != 1 {
				t.Errorf("%q names the URL more than once", err)
			}
		})
	}
}

func TestSplitPath(t *testing.T) {
	tests := []struct{ in, sub, rel string }{
		{"/did:key:z6Mk/upload/bafy", "did:key:z6Mk", "upload/bafy"},
		{"/did:key:z6Mk/upload/", "did:key:z6Mk", "upload"},
		{"/did:web:x/store/a/b", "did:web:x", "store/a/b"},
		{"upload/bafy", "", ""},
		{"/did:key:z6Mk", "", ""},
		{"/did:key:z6Mk/a//b", "", ""},
	}
	for _, tt := range tests {
		sub, rel, err := SplitPath(tt.in)
		if tt.sub == "" {
			if !errors.Is(err, ErrInvalidPath) {
				t.Errorf("SplitPath(%q) err %v, want ErrInvalidPath", tt.in, err)
			}
			continue
		}
		if err != nil || sub != tt.sub || rel != tt.rel {
			t.Errorf("SplitPath(%q) = %q, %q, %v", tt.in, sub, rel, err)
		}
	}
}

func TestReadEvents(t *testing.T) {
	stream := ": comment\nretry: 250\n\nid: 7\nevent: receipt\ndata: {\"seq\":7,\"path\":\"/did:key:z/x/y\",\"receipt\":\"bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy\"}\n\nid: 8\ndata: line1\ndata: line2\n\nid: 9\n\n"
	var evs []Event
	var retries []time.Duration
	err := ReadEvents(strings.NewReader(stream), func(ev Event, r time.Duration) error {
		evs = append(evs, ev)
		retries = append(retries, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	if evs[0].ID != "7" || evs[0].Type != "receipt" || evs[0].Seq != 7 || evs[0].Path != "/did:key:z/x/y" || !evs[0].ReceiptCID.Defined() {
		t.Errorf("event 0 = %+v", evs[0])
	}
	if string(evs[1].Data) != "line1\nline2" || evs[1].Seq != 8 {
		t.Errorf("event 1 = %+v", evs[1])
	}
	if evs[2].ID != "9" || evs[2].Data != nil {
		t.Errorf("event 2 = %+v", evs[2])
	}
	if retries[0] != 250*time.Millisecond {
		t.Errorf("retry %v", retries[0])
	}
}

// TestWatchReconnects serves two events, drops the stream, and checks the client comes back
// with Last-Event-ID and a bearer container holding a /dag/get invocation and its proof.
func TestWatchReconnects(t *testing.T) {
	agent, space, dlg := agentWithSpace(t)
	svc, _ := did.GenerateEd25519()
	var mu sync.Mutex
	var lastIDs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		tokens, err := container.Decode([]byte(auth))
		if err != nil || len(tokens) != 2 {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"name": "Unauthorized", "message": fmt.Sprint(err)})
			return
		}
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		n := len(lastIDs)
		mu.Unlock()
		if r.URL.Path != "/watch/"+space+"/things" {
			t.Errorf("watch path %q", r.URL.Path)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 10\n\n")
		for i := range 2 {
			id := (n-1)*2 + i + 1
			fmt.Fprintf(w, "id: %d\ndata: {\"seq\":%d}\n\n", id, id)
		}
	}))
	defer srv.Close()
	c, err := New(Options{URL: srv.URL, Signer: agent, ServiceDID: svc.DID(), Proofs: []*ucan.Token{dlg}})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	err = c.Watch(context.Background(), "/"+space+"/things", "", func(ev Event) error {
		seqs = append(seqs, ev.Seq)
		if len(seqs) == 5 {
			return ErrStop
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs) != "[1 2 3 4 5]" {
		t.Errorf("seqs %v", seqs)
	}
	if fmt.Sprint(lastIDs) != "[ 2 4]" {
		t.Errorf("Last-Event-IDs %q", lastIDs)
	}

	// A service that goes away after the watch reached it is waited for, not given up on.
	closing := httptest.NewServer(srv.Config.Handler)
	cw, err := New(Options{URL: closing.URL, Signer: agent, ServiceDID: svc.DID(), Proofs: []*ucan.Token{dlg}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = cw.Watch(ctx, "/"+space+"/things", "", func(ev Event) error {
		closing.CloseClientConnections()
		closing.Listener.Close()
		return nil
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("watch of a service that stopped after it was reached: %v, want it retried until ctx ends", err)
	}
	closing.Close()

	// A refusal is not retried.
	bare, _ := New(Options{URL: srv.URL, Signer: agent, ServiceDID: svc.DID()})
	if err := bare.Watch(context.Background(), "/"+agent.DID()+"/things", "", func(Event) error { return nil }); err == nil {
		t.Fatal("watch without proofs succeeded")
	} else {
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != 401 {
			t.Fatalf("err %v, want HTTP 401", err)
		}
	}
}

func TestHTTPErrorBodies(t *testing.T) {
	tests := []struct {
		body string
		want HTTPError
	}{
		{`{"name":"TooLarge","message":"big"}`, HTTPError{Status: 400, Name: "TooLarge", Message: "big"}},
		{`{"error":{"name":"Malformed","message":"bad CAR"}}`, HTTPError{Status: 400, Name: "Malformed", Message: "bad CAR"}},
		{`{"error":"plain"}`, HTTPError{Status: 400, Message: "plain"}},
		{"not json", HTTPError{Status: 400, Message: "not json"}},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		rec.WriteHeader(400)
		rec.WriteString(tt.body)
		got := httpError(rec.Result())
		if *got != tt.want {
			t.Errorf("%s → %+v, want %+v", tt.body, *got, tt.want)
		}
	}
}

// TestEnvelopeEvent reads an event whose data is a receipt envelope as DAG-JSON, the way
// w3dag's watch sends it.
func TestEnvelopeEvent(t *testing.T) {
	svc, _ := did.GenerateEd25519()
	ok, _ := qp.BuildMap(basicnode.Prototype.Any, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "status", qp.String("done"))
	})
	tok, err := receipts.Issue(svc, receipts.Receipt{Ran: message.Sum(0x71, []byte("inv")), Out: receipts.Out{Ok: ok}, Path: "/did:key:z/x/y", Seq: 3}, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	js, err := message.BlockJSON(message.Block{CID: tok.CID, Data: tok.Raw})
	if err != nil {
		t.Fatal(err)
	}
	var got Event
	err = ReadEvents(strings.NewReader("id: 3\nevent: receipt\ndata: "+string(js)+"\n\n"), func(ev Event, _ time.Duration) error {
		got = ev
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !got.ReceiptCID.Equals(tok.CID) || got.Receipt == nil || got.Seq != 3 {
		t.Fatalf("event %+v, want receipt %s", got, tok.CID)
	}
	r, err := VerifyReceipt(got.Receipt.Token, svc.DID())
	if err != nil || r.Path != "/did:key:z/x/y" || r.Status() != "done" {
		t.Fatalf("verified %+v, %v", r, err)
	}
}

func TestBatchSplitting(t *testing.T) {
	tok := func(size int) *ucan.Token {
		return &ucan.Token{CID: message.Sum(0x71, []byte(fmt.Sprint(size, len(fmt.Sprint(size))))), Raw: make([]byte, size)}
	}
	proof := tok(1000)
	mk := func(n, size int) []*Invocation {
		out := make([]*Invocation, n)
		for i := range out {
			out[i] = &Invocation{Token: &ucan.Token{Raw: make([]byte, size)}, Proofs: []*ucan.Token{proof}}
		}
		return out
	}
	tests := []struct {
		name string
		invs []*Invocation
		want []int
	}{
		{"count limit", mk(2500, 300), []int{1000, 2000, 2500}},
		{"size limit", mk(10, 1<<20), []int{3, 6, 9, 10}},
		{"one oversized still sent alone", mk(2, 5<<20), []int{1, 2}},
	}
	for _, tt := range tests {
		var got []int
		for start, end := 0, 0; start < len(tt.invs); start = end {
			end = batchEnd(tt.invs, start)
			got = append(got, end)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: message ends %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestReadReplyLargeBlock: a reply may carry blocks larger than a token (a select page of
// many entry states); readReply must decode it with the reply limits, not the request ones.
func TestReadReplyLargeBlock(t *testing.T) {
	f, srv := newFake(t)
	agent, space, dlg := agentWithSpace(t)
	c, err := New(Options{URL: srv.URL, Signer: agent, Proofs: []*ucan.Token{dlg}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	inv, err := c.NewInvocation(ctx, CmdPut, "/"+space+"/pins/a", Args{"value": basicnode.NewInt(1)})
	if err != nil {
		t.Fatal(err)
	}
	body, err := EncodeMessage([]*Invocation{inv})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Post(ctx, body, message.ContentTypeCAR)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	reply, err := message.Decode(raw, message.ReplyLimits)
	if err != nil {
		t.Fatal(err)
	}
	big := message.NewBlock(0x55, bytes.Repeat([]byte{'x'}, 2*message.MaxBlockSize))
	reply.Blocks = append(reply.Blocks, big)
	raw, err = message.Encode(reply)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.readReply(raw, f.signer.DID(), []*Invocation{inv})
	if err != nil {
		t.Fatalf("reply with a %d-byte block: %v", len(big.Data), err)
	}
	if got := rs[0].Blocks[big.CID]; len(got) != len(big.Data) {
		t.Errorf("large block in Receipt.Blocks has %d bytes, want %d", len(got), len(big.Data))
	}
}

// TestServiceReadsWithoutProof checks that reads of the service's collections go out
// without proofs when the client holds none (the service decides which are public), and
// that writes to them and reads of spaces still fail with ErrNoProof before sending.
func TestServiceReadsWithoutProof(t *testing.T) {
	ctx := context.Background()
	f, srv := newFake(t)
	agent, space, _ := agentWithSpace(t)
	bare, err := New(Options{URL: srv.URL, Signer: agent})
	if err != nil {
		t.Fatal(err)
	}
	svc := "/" + f.signer.DID()
	for _, cmd := range []string{CmdGet, CmdSelect} {
		inv, err := bare.NewInvocation(ctx, cmd, svc+"/carwhere", nil)
		if err != nil {
			t.Fatalf("%s of the service without proofs: %v", cmd, err)
		}
		if in := inv.Token.Invocation; len(in.Proofs) != 0 || len(inv.Proofs) != 0 || in.Subject != f.signer.DID() || in.Audience != f.signer.DID() {
			t.Fatalf("%s invocation %+v with proofs %d", cmd, in, len(inv.Proofs))
		}
	}
	if _, err := bare.Bearer(ctx, svc+"/carwhere"); err != nil {
		t.Fatalf("watch bearer for the service: %v", err)
	}
	for _, tc := range []struct{ cmd, path string }{
		{CmdPut, svc + "/carwhere/x"},
		{CmdRemove, svc + "/carwhere/x"},
		{CmdGet, "/" + space + "/things/a"},
	} {
		if _, err := bare.NewInvocation(ctx, tc.cmd, tc.path, nil); !errors.Is(err, ErrNoProof) {
			t.Errorf("%s %s without proofs: %v, want ErrNoProof", tc.cmd, tc.path, err)
		}
	}
}
