package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/container"
	"github.com/w3dag/w3dag/ucan/did"
)

// ValueFunc returns the key and the put value of the i-th distinct entry of a case.
type ValueFunc func(i int) (key string, value datamodel.Node)

// UCANErrorNames are the error names of UCAN validation failures.
var UCANErrorNames = []string{
	ucan.InvalidClaim, ucan.UnavailableProof, ucan.Expired, ucan.TooEarly,
	ucan.InvalidAudience, ucan.InvalidSubject, ucan.InvalidSignature, ucan.MatchError,
}

// Cases returns the suite, in the order Run runs it.
func Cases() []Case {
	return []Case{
		{"service-did", caseServiceDID},
		{"put-get", casePutGet},
		{"put-same-value", casePutSameValue},
		{"select-full-pages", caseSelectPages},
		{"remove-then-put", caseRemoveThenPut},
		{"receipt-chain", caseReceiptChain},
		{"batch-message", caseBatch},
		{"repeat-invocation", caseRepeat},
		{"delegation-chain", caseDelegationChain},
		{"container-body", caseContainerBody},
		{"dag-json-reply", caseDAGJSONReply},
		{"store-then-upload", caseStoreUpload},
		{"auth-no-proof", caseAuthNoProof},
		{"auth-expired-proof", caseAuthExpired},
		{"auth-other-space", caseAuthOtherSpace},
		{"auth-command-not-covered", caseAuthNotCovered},
		{"malformed-input", caseMalformed},
		{"watch", caseWatch},
		{"schema", caseSchema},
	}
}

// env is one case's fresh agent and space.
type env struct {
	t       T
	target  Target
	service string
	agent   did.Signer
	space   did.Signer
	root    *ucan.Token // space → agent, command "/"
	c       *client.Client
	hc      *http.Client
	value   ValueFunc
}

func setup(ctx context.Context, t T, target Target) *env {
	t.Helper()
	if target.URL == "" {
		t.Fatalf("conformance: Target.URL is empty")
	}
	e := &env{t: t, target: target, hc: target.HTTPClient, value: target.Value}
	if e.hc == nil {
		e.hc = &http.Client{}
	}
	if e.target.Collection == "" {
		e.target.Collection = DefaultCollection
	}
	if e.value == nil {
		e.value = uploadValue
	}
	e.service = target.ServiceDID
	if e.service == "" {
		s, err := client.FetchServiceDID(ctx, e.hc, target.URL)
		if err != nil {
			t.Fatalf("reading the service DID: %v", err)
		}
		e.service = s
	}
	var err error
	if e.agent, err = did.GenerateEd25519(); err != nil {
		t.Fatalf("agent key: %v", err)
	}
	if e.space, err = did.GenerateEd25519(); err != nil {
		t.Fatalf("space key: %v", err)
	}
	e.root = e.delegation(e.space, e.agent.DID(), e.space.DID(), "/", nil)
	e.c, err = client.New(client.Options{URL: target.URL, Signer: e.agent, ServiceDID: e.service, HTTPClient: e.hc, Proofs: []*ucan.Token{e.root}})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return e
}

// uploadValue is an upload-like value: {"root": <fresh raw CID>} keyed by the CID.
func uploadValue(int) (string, datamodel.Node) {
	b := make([]byte, 32)
	rand.Read(b)
	c := message.Sum(message.CodecRaw, b)
	return c.String(), fluent.MustBuildMap(basicnode.Prototype.Map, 1, func(ma fluent.MapAssembler) {
		ma.AssembleEntry("root").AssignLink(cidlink.Link{Cid: c})
	})
}

func (e *env) delegation(iss did.Signer, aud, sub, cmd string, exp *int64) *ucan.Token {
	e.t.Helper()
	tok, err := (&ucan.Delegation{Issuer: iss.DID(), Audience: aud, Subject: sub, Command: cmd, Nonce: ucan.NewNonce(), Expiration: exp}).Seal(iss, ucan.SealOptions{})
	if err != nil {
		e.t.Fatalf("sealing delegation: %v", err)
	}
	return tok
}

// collection is the absolute path of the collection in the case's space.
func (e *env) collection() string { return "/" + e.space.DID() + "/" + e.target.Collection }

// entry returns a fresh entry path and its value.
func (e *env) entry(i int) (string, datamodel.Node) {
	key, v := e.value(i)
	return e.collection() + "/" + key, v
}

func (e *env) put(ctx context.Context, p string, v datamodel.Node) *client.Receipt {
	e.t.Helper()
	r, err := e.c.Put(ctx, p, v)
	if err != nil {
		e.t.Fatalf("put %s: %v", p, err)
	}
	return r
}

// invoke seals an invocation by the agent with exactly the given proofs and sends it.
func (e *env) invoke(ctx context.Context, sub, cmd string, args datamodel.Node, proofs ...*ucan.Token) *client.Receipt {
	e.t.Helper()
	inv := &ucan.Invocation{Issuer: e.agent.DID(), Subject: sub, Audience: e.service, Command: cmd, Args: args, Nonce: ucan.NewNonce()}
	exp := time.Now().Add(time.Minute).Unix()
	inv.Expiration = &exp
	for _, p := range proofs {
		inv.Proofs = append(inv.Proofs, p.CID)
	}
	tok, err := inv.Seal(e.agent, ucan.SealOptions{})
	if err != nil {
		e.t.Fatalf("sealing invocation: %v", err)
	}
	rs, err := e.c.Send(ctx, &client.Invocation{Token: tok, Proofs: proofs})
	if err != nil {
		e.t.Fatalf("sending %s: %v", cmd, err)
	}
	return rs[0]
}

// The argument and input builders below use fluent, which panics on an assembly error
// (a case then fails with the panic): basicnode maps of these kinds cannot fail.

func putArgs(rel string, v datamodel.Node) datamodel.Node {
	return fluent.MustBuildMap(basicnode.Prototype.Map, 2, func(ma fluent.MapAssembler) {
		ma.AssembleEntry("path").AssignString(rel)
		ma.AssembleEntry("value").AssignNode(v)
	})
}

func wantStatus(t T, what string, r *client.Receipt, status string) {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("%s: error receipt %v, want status %q", what, r.Error, status)
	}
	if got := r.Status(); got != status {
		t.Fatalf("%s: status %q, want %q (state %s)", what, got, status, show(r.Ok))
	}
}

func wantErrorName(t T, what string, r *client.Receipt, names ...string) {
	t.Helper()
	if r.Error == nil {
		t.Fatalf("%s: ok receipt %s, want an error receipt named one of %v", what, show(r.Ok), names)
	}
	if !slices.Contains(names, r.Error.Name) {
		t.Fatalf("%s: error %q (%s), want one of %v", what, r.Error.Name, r.Error.Message, names)
	}
	if r.Error.Message == "" {
		t.Errorf("%s: error %q has no message", what, r.Error.Name)
	}
}

func show(n datamodel.Node) string {
	if n == nil {
		return "<none>"
	}
	var buf bytes.Buffer
	if err := dagjson.Encode(n, &buf); err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return buf.String()
}

func caseServiceDID(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	if _, err := did.Parse(e.service); err != nil {
		t.Fatalf("service DID %q: %v", e.service, err)
	}
	if target.ServiceDID != "" {
		got, err := client.FetchServiceDID(ctx, e.hc, target.URL)
		if err != nil {
			t.Fatalf("did.json: %v", err)
		}
		if got != target.ServiceDID {
			t.Errorf("did.json id %q, want %q", got, target.ServiceDID)
		}
	}
}

func casePutGet(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	r := e.put(ctx, p, v)
	wantStatus(t, "put", r, "done")
	if r.Path != p {
		t.Errorf("put receipt path %q, want %q", r.Path, p)
	}
	if r.Origin != nil {
		t.Errorf("first put has origin %s", *r.Origin)
	}
	if r.Earlier {
		t.Errorf("first put answered with a receipt for another invocation (ran %s)", r.Ran)
	}
	g, err := e.c.Get(ctx, p)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	wantStatus(t, "get", g, "done")
	if !ipld.DeepEqual(g.State(), r.Ok) {
		t.Errorf("get state %s, want the put's %s", show(g.State()), show(r.Ok))
	}
	if !g.Head().Equals(r.CID) {
		t.Errorf("get names head %s, want the put receipt %s", g.Head(), r.CID)
	}
	if g.HeadReceipt != nil && !bytes.Equal(g.HeadReceipt.Token.Raw, r.Token.Raw) {
		t.Errorf("get carried a head receipt other than the put's")
	}
	f, err := e.c.Get(ctx, p+"/status")
	if err != nil {
		t.Fatalf("get of the status field: %v", err)
	}
	if s, err := f.State().AsString(); err != nil || s != "done" {
		t.Errorf("get %s/status = %s, want \"done\"", p, show(f.State()))
	}
	other, _ := e.entry(1)
	if _, err := e.c.Get(ctx, other); !isReceiptError(err, "NotFound") {
		t.Errorf("get of a missing entry: %v, want a NotFound error receipt", err)
	}
}

func isReceiptError(err error, name string) bool {
	var re *client.ReceiptError
	return errors.As(err, &re) && re.Name == name
}

func casePutSameValue(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	r1 := e.put(ctx, p, v)
	wantStatus(t, "put", r1, "done")
	r2 := e.put(ctx, p, v)
	wantStatus(t, "same put", r2, "done")
	if !r2.CID.Equals(r1.CID) {
		t.Errorf("same-value put gave receipt %s (origin %v), want the head %s", r2.CID, r2.Origin, r1.CID)
	}
	chain, err := e.c.Chain(ctx, r2.CID)
	if err != nil {
		t.Fatalf("chain: %v", err)
	}
	if len(chain) != 1 {
		t.Errorf("chain after a same-value put has %d receipts, want 1", len(chain))
	}
}

func caseSelectPages(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	const n, limit = 7, 3
	var want []string
	for i := range n {
		p, v := e.entry(i)
		e.put(ctx, p, v)
		want = append(want, path.Base(p))
	}
	var got []string
	q := client.Query{Limit: limit}
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatalf("select did not end after %d pages", pages)
		}
		page, err := e.c.Select(ctx, e.collection(), q)
		if err != nil {
			t.Fatalf("select page %d: %v", pages, err)
		}
		for _, en := range page.Entries {
			got = append(got, entryKey(en))
		}
		if page.Cursor == "" {
			break
		}
		if len(got) < n && len(page.Entries) != limit {
			t.Errorf("page %d has %d entries while more exist, want %d (full pages)", pages, len(page.Entries), limit)
		}
		q.Cursor = page.Cursor
	}
	if !slices.Equal(got, want) {
		t.Errorf("select listed %v, want %v (insertion order)", got, want)
	}
	all, err := e.c.Select(ctx, e.collection(), client.Query{Limit: client.MaxSelectLimit})
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	if len(all.Entries) != n || all.Cursor != "" {
		t.Errorf("select with limit %d: %d entries, cursor %q; want %d and no cursor", client.MaxSelectLimit, len(all.Entries), all.Cursor, n)
	}
	big := e.invoke(ctx, e.space.DID(), client.CmdSelect, selectArgs(e.target.Collection, client.MaxSelectLimit+1), e.root)
	if big.Error == nil {
		t.Errorf("select with limit %d succeeded, want an error receipt", client.MaxSelectLimit+1)
	}
}

func pathArgs(rel string) datamodel.Node {
	return fluent.MustBuildMap(basicnode.Prototype.Map, 1, func(ma fluent.MapAssembler) {
		ma.AssembleEntry("path").AssignString(rel)
	})
}

func selectArgs(rel string, limit int) datamodel.Node {
	return fluent.MustBuildMap(basicnode.Prototype.Map, 2, func(ma fluent.MapAssembler) {
		ma.AssembleEntry("path").AssignString(rel)
		ma.AssembleEntry("limit").AssignInt(int64(limit))
	})
}

// entryKey is a page entry's key, from "key" or the last segment of "path".
func entryKey(en client.PageEntry) string {
	if en.Key != "" {
		return en.Key
	}
	return path.Base(en.Path)
}

func caseRemoveThenPut(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	r1 := e.put(ctx, p, v)
	r2, err := e.c.Remove(ctx, p)
	if err != nil {
		t.Fatalf("remove: %v", err)
	}
	wantStatus(t, "remove", r2, "removed")
	if r2.Origin == nil || !r2.Origin.Equals(r1.CID) {
		t.Errorf("remove origin %v, want the put receipt %s", r2.Origin, r1.CID)
	}
	g, err := e.c.Get(ctx, p)
	if err != nil {
		t.Fatalf("get after remove: %v", err)
	}
	wantStatus(t, "get after remove", g, "removed")
	r3 := e.put(ctx, p, v)
	wantStatus(t, "put after remove", r3, "done")
	if r3.Origin == nil || !r3.Origin.Equals(r2.CID) {
		t.Errorf("put after remove has origin %v, want the remove receipt %s", r3.Origin, r2.CID)
	}
	if r3.CID.Equals(r1.CID) {
		t.Errorf("put after remove returned the first put's receipt")
	}
}

func caseReceiptChain(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	r1 := e.put(ctx, p, v)
	r2, err := e.c.Remove(ctx, p)
	if err != nil {
		t.Fatalf("remove: %v", err)
	}
	r3 := e.put(ctx, p, v)
	one, err := e.c.Receipt(ctx, r2.CID)
	if err != nil {
		t.Fatalf("GET /receipts/%s: %v", r2.CID, err)
	}
	if !bytes.Equal(one.Token.Raw, r2.Token.Raw) {
		t.Errorf("GET /receipts/%s returned other bytes than POST /ucan did", r2.CID)
	}
	chain, err := e.c.Chain(ctx, r3.CID)
	if err != nil {
		t.Fatalf("GET /receipts/%s?chain=1: %v", r3.CID, err)
	}
	var got []cid.Cid
	for _, r := range chain {
		got = append(got, r.CID)
		if r.Path != p {
			t.Errorf("receipt %s in the chain is about %q, want %q", r.CID, r.Path, p)
		}
	}
	want := []cid.Cid{r3.CID, r2.CID, r1.CID}
	if !slices.Equal(got, want) {
		t.Errorf("chain %v, want %v", got, want)
	}
	for i := 1; i < len(chain); i++ {
		if chain[i].Seq >= chain[i-1].Seq {
			t.Errorf("chain seq not decreasing: %d then %d", chain[i-1].Seq, chain[i].Seq)
		}
	}
	if _, err := e.c.Receipt(ctx, message.Sum(message.CodecDAGCBOR, []byte("no such receipt"))); !isHTTPStatus(err, http.StatusNotFound) {
		t.Errorf("GET of an unknown receipt: %v, want HTTP 404", err)
	}
}

func isHTTPStatus(err error, status int) bool {
	var he *client.HTTPError
	return errors.As(err, &he) && he.Status == status
}

func caseBatch(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	const n = 50
	var invs []*client.Invocation
	for i := range n {
		p, v := e.entry(i)
		inv, err := e.c.NewInvocation(ctx, client.CmdPut, p, client.Args{"value": v})
		if err != nil {
			t.Fatalf("invocation: %v", err)
		}
		invs = append(invs, inv)
	}
	rs, err := e.c.Send(ctx, invs...)
	if err != nil {
		t.Fatalf("sending %d invocations in one message: %v", n, err)
	}
	seen := map[cid.Cid]bool{}
	for i, r := range rs {
		wantStatus(t, fmt.Sprintf("put %d of the batch", i), r, "done")
		if seen[r.CID] {
			t.Errorf("receipt %s returned twice", r.CID)
		}
		seen[r.CID] = true
	}
	page, err := e.c.Select(ctx, e.collection(), client.Query{Limit: client.MaxSelectLimit})
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	if len(page.Entries) != n {
		t.Errorf("select after the batch: %d entries, want %d", len(page.Entries), n)
	}
}

// noWrite checks that a failed put left no entry behind.
func (e *env) noWrite(ctx context.Context, p string) {
	e.t.Helper()
	if _, err := e.c.Get(ctx, p); !isReceiptError(err, "NotFound") {
		e.t.Errorf("get after a refused put: %v, want a NotFound error receipt", err)
	}
}

func caseAuthNoProof(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	rel := strings.TrimPrefix(p, "/"+e.space.DID()+"/")
	r := e.invoke(ctx, e.space.DID(), client.CmdPut, putArgs(rel, v))
	wantErrorName(t, "put without proof", r, UCANErrorNames...)
	e.noWrite(ctx, p)
}

func caseAuthExpired(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	past := time.Now().Add(-time.Hour).Unix()
	old := e.delegation(e.space, e.agent.DID(), e.space.DID(), "/", &past)
	p, v := e.entry(0)
	rel := strings.TrimPrefix(p, "/"+e.space.DID()+"/")
	r := e.invoke(ctx, e.space.DID(), client.CmdPut, putArgs(rel, v), old)
	wantErrorName(t, "put with an expired proof", r, ucan.Expired)
	e.noWrite(ctx, p)
}

func caseAuthOtherSpace(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	other, err := did.GenerateEd25519()
	if err != nil {
		t.Fatalf("space key: %v", err)
	}
	_, v := e.entry(0)
	key, _ := e.value(1)
	r := e.invoke(ctx, other.DID(), client.CmdPut, putArgs(e.target.Collection+"/"+key, v), e.root)
	wantErrorName(t, "put on another space", r, ucan.InvalidSubject, ucan.InvalidClaim)
}

func caseAuthNotCovered(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	readOnly := e.delegation(e.space, e.agent.DID(), e.space.DID(), client.CmdGet, nil)
	p, v := e.entry(0)
	rel := strings.TrimPrefix(p, "/"+e.space.DID()+"/")
	r := e.invoke(ctx, e.space.DID(), client.CmdPut, putArgs(rel, v), readOnly)
	wantErrorName(t, "put with a /dag/get proof", r, UCANErrorNames...)
	e.noWrite(ctx, p)
	// The same proof does allow reading.
	g := e.invoke(ctx, e.space.DID(), client.CmdGet, pathArgs(rel), readOnly)
	if g.Error != nil && g.Error.Name != "NotFound" {
		t.Errorf("get with a /dag/get proof: %v, want NotFound (authorised, no entry)", g.Error)
	}
}

func caseMalformed(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	post := func(what, contentType string, body []byte) {
		t.Helper()
		resp, err := e.c.Post(ctx, body, contentType)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer resp.Body.Close()
		he := client.ErrorFromResponse(resp)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s: HTTP %d, want 4xx", what, resp.StatusCode)
			return
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q, want application/json", what, ct)
		}
		if he.Name == "" || he.Message == "" {
			t.Errorf("%s: HTTP %d error body without name and message", what, resp.StatusCode)
		}
	}
	post("garbage CAR", message.ContentTypeCAR, []byte("this is not a CAR"))
	post("empty body", message.ContentTypeCAR, nil)
	post("text/plain body", "text/plain", []byte("hello"))
	notMessage, _ := message.EncodeCAR(nil, nil)
	post("CAR without roots", message.ContentTypeCAR, notMessage)
	big := make([]byte, message.MaxMessageSize+1024)
	post("body over the message size limit", message.ContentTypeCAR, big)

	// A well-formed message with a bad invocation gets an error receipt, not a 4xx.
	r := e.invoke(ctx, e.space.DID(), "/dag/frobnicate", putArgs(e.target.Collection+"/x", basicnode.NewInt(1)), e.root)
	if r.Error == nil {
		t.Errorf("unknown command: ok receipt, want an error receipt")
	}
	r = e.invoke(ctx, e.space.DID(), client.CmdPut, putArgs("no-such-collection/x", basicnode.NewInt(1)), e.root)
	if r.Error == nil {
		t.Errorf("put to an unknown collection: ok receipt, want an error receipt")
	}
	p, _ := e.entry(0)
	rel := strings.TrimPrefix(p, "/"+e.space.DID()+"/")
	r = e.invoke(ctx, e.space.DID(), client.CmdPut, putArgs(rel, basicnode.NewString("not the input type")), e.root)
	if r.Error == nil {
		t.Errorf("put of a value of the wrong type: ok receipt, want an error receipt")
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(target.URL, "/")+"/receipts/not-a-cid", nil)
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatalf("GET /receipts/not-a-cid: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /receipts/not-a-cid: HTTP %d, want 400 or 404", resp.StatusCode)
	}
}

func caseWatch(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p1, v1 := e.entry(0)
	r1 := e.put(ctx, p1, v1)

	// From just before the first put (Last-Event-ID = its seq - 1) the existing receipt is
	// replayed first, then a receipt committed while watching arrives.
	type got struct {
		ev  client.Event
		err error
	}
	events := make(chan got, 16)
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := e.c.Watch(wctx, e.collection(), strconv.FormatUint(r1.Seq-1, 10), func(ev client.Event) error {
			events <- got{ev: ev}
			return nil
		})
		if err != nil && wctx.Err() == nil {
			events <- got{err: err}
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	next := func(what string) client.Event {
		t.Helper()
		select {
		case g := <-events:
			if g.err != nil {
				t.Fatalf("watch: %v", g.err)
			}
			return g.ev
		case <-time.After(10 * time.Second):
			t.Fatalf("watch: no event for %s within 10s", what)
		}
		return client.Event{}
	}
	ev := next("the existing entry")
	if !eventIs(ev, r1) {
		t.Fatalf("first event %q (data %s), want receipt %s", ev.ID, ev.Data, r1.CID)
	}
	p2, v2 := e.entry(1)
	r2 := e.put(ctx, p2, v2)
	ev2 := next("a new entry")
	if !eventIs(ev2, r2) {
		t.Fatalf("second event %q (data %s), want receipt %s", ev2.ID, ev2.Data, r2.CID)
	}
	cancel()
	wg.Wait()

	// Resuming after the first event's id starts with the second.
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	var resumed client.Event
	err := e.c.Watch(rctx, e.collection(), ev.ID, func(ev client.Event) error {
		resumed = ev
		return client.ErrStop
	})
	if err != nil {
		t.Fatalf("resumed watch: %v", err)
	}
	if !eventIs(resumed, r2) {
		t.Errorf("resumed after %q: event %q (data %s), want receipt %s", ev.ID, resumed.ID, resumed.Data, r2.CID)
	}

	// Without a proof the service refuses the stream.
	stranger, _ := did.GenerateEd25519()
	tok, err := (&ucan.Invocation{Issuer: stranger.DID(), Subject: e.space.DID(), Audience: e.service, Command: client.CmdGet, Args: pathArgs(e.target.Collection), Nonce: ucan.NewNonce()}).Seal(stranger, ucan.SealOptions{})
	if err != nil {
		t.Fatalf("sealing invocation: %v", err)
	}
	bearer, err := client.BearerOf(&client.Invocation{Token: tok})
	if err != nil {
		t.Fatalf("bearer: %v", err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(target.URL, "/")+"/watch"+e.collection(), nil)
	req.Header.Set("Authorization", bearer)
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatalf("unauthorised watch: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Errorf("watch of another's space: HTTP %d, want 401 or 403", resp.StatusCode)
	}
}

// eventIs says whether ev announces receipt r: by the receipt CID in its data, or by
// carrying the receipt's CID string somewhere in its data.
func eventIs(ev client.Event, r *client.Receipt) bool {
	if ev.ReceiptCID.Defined() {
		return ev.ReceiptCID.Equals(r.CID)
	}
	var anyJSON any
	return json.Unmarshal(ev.Data, &anyJSON) == nil && bytes.Contains(ev.Data, []byte(r.CID.String()))
}

func caseRepeat(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	inv, err := e.c.NewInvocation(ctx, client.CmdPut, p, client.Args{"value": v})
	if err != nil {
		t.Fatalf("invocation: %v", err)
	}
	first, err := e.c.Send(ctx, inv)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	wantStatus(t, "put", first[0], "done")
	again, err := e.c.Send(ctx, inv)
	if err != nil {
		t.Fatalf("sending the same invocation again: %v", err)
	}
	if !again[0].CID.Equals(first[0].CID) {
		t.Errorf("the same invocation sent twice got receipts %s and %s, want the stored one", first[0].CID, again[0].CID)
	}
	byInv, err := e.c.Receipt(ctx, inv.Token.CID)
	if err != nil {
		t.Fatalf("GET /receipts/<invocation CID>: %v", err)
	}
	if !byInv.CID.Equals(first[0].CID) {
		t.Errorf("GET /receipts/<invocation CID> gave %s, want %s", byInv.CID, first[0].CID)
	}
}

// caseDelegationChain: the space delegates everything to the agent, the agent delegates
// /dag/get to a friend; the friend can read (two-link chain, root first) but not write, and
// cannot widen what it was given.
func caseDelegationChain(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	e.put(ctx, p, v)
	friend, err := did.GenerateEd25519()
	if err != nil {
		t.Fatalf("key: %v", err)
	}
	read := e.delegation(e.agent, friend.DID(), e.space.DID(), client.CmdGet, nil)
	fc, err := client.New(client.Options{URL: target.URL, Signer: friend, ServiceDID: e.service, HTTPClient: e.hc, Proofs: []*ucan.Token{e.root, read}})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	g, err := fc.Get(ctx, p)
	if err != nil {
		t.Fatalf("get through a two-link chain: %v", err)
	}
	wantStatus(t, "get through a two-link chain", g, "done")
	if _, err := fc.Put(ctx, p+"x", v); !errors.Is(err, client.ErrNoProof) {
		t.Errorf("friend put: %v, want the client to find no proof", err)
	}
	// Claiming more than the chain grants: a put citing the /dag/get chain.
	rel := strings.TrimPrefix(p, "/"+e.space.DID()+"/")
	inv, err := (&ucan.Invocation{Issuer: friend.DID(), Subject: e.space.DID(), Audience: e.service, Command: client.CmdPut, Args: putArgs(rel, v), Nonce: ucan.NewNonce(), Proofs: []cid.Cid{e.root.CID, read.CID}}).Seal(friend, ucan.SealOptions{})
	if err != nil {
		t.Fatalf("sealing: %v", err)
	}
	rs, err := fc.Send(ctx, &client.Invocation{Token: inv, Proofs: []*ucan.Token{e.root, read}})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	wantErrorName(t, "friend put citing a /dag/get chain", rs[0], UCANErrorNames...)
}

// caseContainerBody sends an invocation and its proof as a UCAN container body
// (application/vnd.ipld.dag-cbor) instead of a CAR.
func caseContainerBody(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	inv, err := e.c.NewInvocation(ctx, client.CmdPut, p, client.Args{"value": v})
	if err != nil {
		t.Fatalf("invocation: %v", err)
	}
	body, err := container.Encode(container.HeaderRaw, [][]byte{inv.Token.Raw, e.root.Raw})
	if err != nil {
		t.Fatalf("container: %v", err)
	}
	resp, err := e.c.Post(ctx, body, message.ContentTypeDAGCBOR)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("container body: %v", client.ErrorFromResponse(resp))
	}
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading reply: %v", err)
	}
	r := e.replyReceipt(reply, inv.Token.CID, message.Decode)
	wantStatus(t, "put in a container body", r, "done")
}

// caseDAGJSONReply asks for the reply as DAG-JSON.
func caseDAGJSONReply(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p, v := e.entry(0)
	inv, err := e.c.NewInvocation(ctx, client.CmdPut, p, client.Args{"value": v})
	if err != nil {
		t.Fatalf("invocation: %v", err)
	}
	body, err := client.EncodeMessage([]*client.Invocation{inv})
	if err != nil {
		t.Fatalf("message: %v", err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(target.URL, "/")+"/ucan", bytes.NewReader(body))
	req.Header.Set("Content-Type", message.ContentTypeCAR)
	req.Header.Set("Accept", message.ContentTypeDAGJSON)
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST with Accept DAG-JSON: %v", client.ErrorFromResponse(resp))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, message.ContentTypeDAGJSON) {
		t.Errorf("Content-Type %q, want %s", ct, message.ContentTypeDAGJSON)
	}
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading reply: %v", err)
	}
	decode := func(data []byte, _ message.Limits) (*message.Message, error) {
		roots, blocks, err := message.DecodeJSON(data)
		if err != nil {
			return nil, err
		}
		var car []byte
		if car, err = message.EncodeCAR(roots, blocks); err != nil {
			return nil, err
		}
		return message.Decode(car, message.Limits{})
	}
	r := e.replyReceipt(reply, inv.Token.CID, decode)
	wantStatus(t, "put with a DAG-JSON reply", r, "done")
}

// replyReceipt finds and verifies the receipt for inv in a reply message.
func (e *env) replyReceipt(reply []byte, inv cid.Cid, decode func([]byte, message.Limits) (*message.Message, error)) *client.Receipt {
	e.t.Helper()
	m, err := decode(reply, message.Limits{})
	if err != nil {
		e.t.Fatalf("decoding the reply: %v", err)
	}
	blocks := m.Index()
	for _, r := range m.Receipts {
		if !r.Invocation.Equals(inv) {
			continue
		}
		tok, err := ucan.Decode(blocks[r.Receipt])
		if err != nil {
			e.t.Fatalf("receipt %s: %v", r.Receipt, err)
		}
		rc, err := client.VerifyReceipt(tok, e.service)
		if err != nil {
			e.t.Fatalf("receipt: %v", err)
		}
		if !rc.Ran.Equals(inv) {
			e.t.Errorf("receipt ran %s, want %s", rc.Ran, inv)
		}
		return rc
	}
	e.t.Fatalf("the reply has no receipt for %s", inv)
	return nil
}

// caseStoreUpload stores a CAR (put → pending with an upload URL, wrong bytes refused, the
// right bytes accepted, put again → done), lists it as the shard of an upload (an unknown
// shard is refused), and checks that bytes already held make another space's store entry
// done at once.
func caseStoreUpload(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	payload := make([]byte, 1024)
	rand.Read(payload)
	blk := message.NewBlock(message.CodecRaw, payload)
	car, err := message.EncodeCAR([]cid.Cid{blk.CID}, []message.Block{blk})
	if err != nil {
		t.Fatalf("CAR: %v", err)
	}
	carCID := message.CID(car)
	storePath := "/" + e.space.DID() + "/store/" + carCID.String()
	value := storeInput(carCID, len(car))

	r := e.put(ctx, storePath, value)
	wantStatus(t, "store put", r, "pending")
	state := r.State()
	url := str(lookupNode(state, "url"))
	if url == "" {
		t.Fatalf("pending state %s has no url", show(state))
	}
	headers := map[string]string{}
	if hn := lookupNode(state, "headers"); hn != nil {
		it := hn.MapIterator()
		for it != nil && !it.Done() {
			k, v, err := it.Next()
			if err != nil {
				t.Fatalf("headers: %v", err)
			}
			headers[str(k)] = str(v)
		}
	}
	upload := func(body []byte) int {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(body))
		if err != nil {
			t.Fatalf("upload request: %v", err)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		req.ContentLength = int64(len(body))
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatalf("PUT %s: %v", url, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	bad := bytes.Clone(car)
	bad[len(bad)-1] ^= 0xff
	if code := upload(bad); code < 400 || code >= 500 {
		t.Errorf("upload of bytes that are not the CAR: HTTP %d, want 4xx", code)
	}
	if code := upload(car); code/100 != 2 {
		t.Fatalf("upload of the CAR: HTTP %d", code)
	}
	r = e.put(ctx, storePath, value)
	wantStatus(t, "store put after the upload", r, "done")

	rootPath := "/" + e.space.DID() + "/upload/" + blk.CID.String()
	u := e.put(ctx, rootPath, uploadInput(blk.CID, carCID))
	wantStatus(t, "upload with the stored shard", u, "done")
	missing := message.Sum(message.CodecCAR, []byte("never stored"))
	if _, err := e.c.Put(ctx, rootPath, uploadInput(blk.CID, missing)); !isReceiptError(err, "ShardNotFound") {
		t.Errorf("upload with a shard that is not stored: %v, want a ShardNotFound error receipt", err)
	}

	// Another space storing the same bytes: held already, done at once.
	other := setup(ctx, t, target)
	r2 := other.put(ctx, "/"+other.space.DID()+"/store/"+carCID.String(), value)
	wantStatus(t, "store put of bytes already held", r2, "done")
}

func storeInput(link cid.Cid, size int) datamodel.Node {
	return fluent.MustBuildMap(basicnode.Prototype.Map, 2, func(ma fluent.MapAssembler) {
		ma.AssembleEntry("link").AssignLink(cidlink.Link{Cid: link})
		ma.AssembleEntry("size").AssignInt(int64(size))
	})
}

func uploadInput(root cid.Cid, shards ...cid.Cid) datamodel.Node {
	return fluent.MustBuildMap(basicnode.Prototype.Map, 2, func(ma fluent.MapAssembler) {
		ma.AssembleEntry("root").AssignLink(cidlink.Link{Cid: root})
		ma.AssembleEntry("shards").CreateList(int64(len(shards)), func(la fluent.ListAssembler) {
			for _, s := range shards {
				la.AssembleValue().AssignLink(cidlink.Link{Cid: s})
			}
		})
	})
}

func lookupNode(n datamodel.Node, key string) datamodel.Node {
	if n == nil || n.Kind() != datamodel.Kind_Map {
		return nil
	}
	v, err := n.LookupByString(key)
	if err != nil {
		return nil
	}
	return v
}

func str(n datamodel.Node) string {
	if n == nil {
		return ""
	}
	s, _ := n.AsString()
	return s
}
