package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/container"
)

// checkJSONError asserts a JSON error body with the given status and name.
func checkJSONError(t *testing.T, resp *http.Response, status int, name string) string {
	t.Helper()
	body := readAll(t, resp)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if e.Error.Name != name || e.Error.Message == "" {
		t.Fatalf("error %+v, want name %s and a message", e.Error, name)
	}
	return e.Error.Message
}

func TestTransportErrors(t *testing.T) {
	h := newHarness(t, harnessOptions{limits: message.Limits{MaxInvocations: 3}})
	inv := h.put("a", "x")
	good := encode(t, []*ucan.Token{inv})
	dlg := delegate(t, h.space, mustKey(t).DID(), h.space.DID(), "/dag")
	var four []*ucan.Token
	for i := range 4 {
		four = append(four, h.put(fmt.Sprint(i), "x"))
	}
	big := message.NewBlock(message.CodecRaw, bytes.Repeat([]byte{1}, MaxTokenSize+1))
	bigMsg, err := message.Encode(&message.Message{Invocations: []cid.Cid{inv.CID}, Blocks: []message.Block{{CID: inv.CID, Data: inv.Raw}, big}})
	if err != nil {
		t.Fatal(err)
	}
	notToken := message.NewBlock(message.CodecDAGCBOR, []byte{0xa0})
	notTokenMsg, err := message.Encode(&message.Message{Invocations: []cid.Cid{notToken.CID}, Blocks: []message.Block{notToken}})
	if err != nil {
		t.Fatal(err)
	}
	dlgAsInv, err := message.Encode(&message.Message{Invocations: []cid.Cid{dlg.CID}, Blocks: []message.Block{{CID: dlg.CID, Data: dlg.Raw}}})
	if err != nil {
		t.Fatal(err)
	}
	onlyDlg, err := container.Encode(container.HeaderRaw, [][]byte{dlg.Raw})
	if err != nil {
		t.Fatal(err)
	}
	bigToken, err := container.Encode(container.HeaderRaw, [][]byte{inv.Raw, big.Data})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		contentType string
		body        []byte
		status      int
		errName     string
		mention     string
	}{
		{"no content type", "", good, 415, NameUnsupportedMedia, "required"},
		{"wrong content type", "application/json", good, 415, NameUnsupportedMedia, "application/json"},
		{"CAR v2 asked", "application/vnd.ipld.car; version=2", good, 415, NameUnsupportedMedia, "version 2"},
		{"garbage", message.ContentTypeCAR, []byte("not a car at all"), 400, NameMalformed, "CAR"},
		{"empty", message.ContentTypeCAR, nil, 400, NameMalformed, "CAR"},
		{"truncated", message.ContentTypeCAR, good[:len(good)-10], 400, NameMalformed, "truncated"},
		{"oversized", message.ContentTypeCAR, make([]byte, MaxMessageSize+1), 413, NameTooLarge, "limit"},
		{"too many invocations", message.ContentTypeCAR, encode(t, four), 413, NameTooLarge, "4 invocations"},
		{"token too large", message.ContentTypeCAR, bigMsg, 413, NameTooLarge, "limit"},
		{"block not a token", message.ContentTypeCAR, notTokenMsg, 400, NameMalformed, "not a UCAN token"},
		{"delegation as invocation", message.ContentTypeCAR, dlgAsInv, 400, NameMalformed, "delegation"},
		{"container garbage", message.ContentTypeDAGCBOR, []byte("@@@@"), 400, NameMalformed, "container"},
		{"container without invocation", message.ContentTypeDAGCBOR, onlyDlg, 400, NameMalformed, "no invocation"},
		{"container token too large", message.ContentTypeDAGCBOR, bigToken, 413, NameTooLarge, fmt.Sprintf("the limit is %d", MaxTokenSize)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := checkJSONError(t, h.post(tc.contentType, tc.body), tc.status, tc.errName)
			if !strings.Contains(msg, tc.mention) {
				t.Fatalf("message %q does not mention %q", msg, tc.mention)
			}
		})
	}
	// Nothing above ran: the entry does not exist.
	if _, err := h.engine.Entry(context.Background(), mustPath(t, h.space.DID(), "notes/a")); err == nil {
		t.Fatal("a rejected message ran")
	}
}

func TestRoutingErrors(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, tc := range []struct {
		method, path string
		status       int
		name         string
	}{
		{"GET", "/ucan", 405, NameMethodNotAllowed},
		{"GET", "/nowhere", 404, NameNotFound},
		{"GET", "/receipts/not-a-cid", 400, NameBadRequest},
		{"GET", "/receipts/bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", 404, NameNotFound},
		{"GET", "/blob/bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", 404, NameNotFound},
		// No Gateway, no Index: the routes say the gateway is off.
		{"GET", "/ipfs/bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", 404, NameGatewayOff},
		{"GET", "/ipfs/bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy/a/path?format=car", 404, NameGatewayOff},
		{"POST", "/ipfs/bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", 404, NameGatewayOff},
		{"GET", "/index/did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK/bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", 404, NameGatewayOff},
	} {
		req, _ := http.NewRequest(tc.method, h.http.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		checkJSONError(t, resp, tc.status, tc.name)
	}
}

func TestPutAndReceipts(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	put := h.put("a", "first")
	body := encode(t, []*ucan.Token{put})
	rs := h.send([]*ucan.Token{put})
	r := rs[put.CID]
	if r.Out.Err != nil {
		t.Fatalf("put failed: %+v", r.Out.Err)
	}
	// The request message is in the archive, under the CID of its bytes.
	if _, err := archive.New(h.blobs, archive.Options{}).Get(ctx, message.CID(body)); err != nil {
		t.Fatalf("request not archived: %v", err)
	}
	// The reply is archived too, after answering.
	h.srv.Wait()
	replies := 0
	err := archive.New(h.blobs, archive.Options{}).Messages(ctx, func(c cid.Cid) error { replies++; return nil })
	if err != nil || replies != 2 {
		t.Fatalf("archive holds %d messages (%v), want the request and its reply", replies, err)
	}
	entry, err := h.engine.Entry(ctx, mustPath(t, h.space.DID(), "notes/a"))
	if err != nil {
		t.Fatal(err)
	}
	head := entry.Head
	// GET /receipts/{cid} as CAR.
	resp, err := http.Get(h.http.URL + "/receipts/" + head.String())
	if err != nil {
		t.Fatal(err)
	}
	data := readAll(t, resp)
	roots, blocks, err := message.DecodeCAR(data, 0)
	if err != nil || len(roots) != 1 || !roots[0].Equals(head) || len(blocks) != 1 {
		t.Fatalf("receipt CAR: roots %v blocks %d err %v", roots, len(blocks), err)
	}
	// As DAG-CBOR: the envelope bytes; as DAG-JSON: the envelope as data.
	for _, accept := range []string{message.ContentTypeDAGCBOR, message.ContentTypeDAGJSON} {
		req, _ := http.NewRequest("GET", h.http.URL+"/receipts/"+head.String(), nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b := readAll(t, resp)
		if resp.Header.Get("Content-Type") != accept {
			t.Fatalf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), accept)
		}
		if accept == message.ContentTypeDAGCBOR && !bytes.Equal(b, blocks[0].Data) {
			t.Fatal("DAG-CBOR receipt differs from the CAR block")
		}
		if accept == message.ContentTypeDAGJSON && !bytes.Contains(b, []byte(`"/ucan/assert/receipt"`)) {
			t.Fatalf("DAG-JSON receipt: %s", b)
		}
	}
	// GET /receipts/{invocation} finds the receipt of its task.
	resp, err = http.Get(h.http.URL + "/receipts/" + put.CID.String())
	if err != nil {
		t.Fatal(err)
	}
	roots, _, err = message.DecodeCAR(readAll(t, resp), 0)
	if err != nil || !roots[0].Equals(head) {
		t.Fatalf("receipt by invocation: %v %v", roots, err)
	}

	// A remove and a new put make a chain of three.
	rm := invoke(t, h.space, h.space.DID(), "/dag/remove", `{"path": "notes/a"}`)
	again := h.put("a", "second")
	for _, inv := range []*ucan.Token{rm, again} {
		if r := h.send([]*ucan.Token{inv})[inv.CID]; r.Out.Err != nil {
			t.Fatalf("%s: %+v", inv.Invocation.Command, r.Out.Err)
		}
	}
	entry, err = h.engine.Entry(ctx, mustPath(t, h.space.DID(), "notes/a"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(h.http.URL + "/receipts/" + entry.Head.String() + "?chain=1")
	if err != nil {
		t.Fatal(err)
	}
	roots, blocks, err = message.DecodeCAR(readAll(t, resp), 0)
	if err != nil || len(blocks) != 3 || !roots[0].Equals(entry.Head) || !blocks[0].CID.Equals(entry.Head) || !blocks[2].CID.Equals(head) {
		t.Fatalf("chain: roots %v, %d blocks, err %v", roots, len(blocks), err)
	}
	req, _ := http.NewRequest("GET", h.http.URL+"/receipts/"+entry.Head.String()+"?chain=1", nil)
	req.Header.Set("Accept", message.ContentTypeDAGJSON)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	jroots, jblocks, err := message.DecodeJSON(readAll(t, resp))
	if err != nil || len(jblocks) != 3 || !jroots[0].Equals(entry.Head) {
		t.Fatalf("DAG-JSON chain: %v, %d blocks, %v", jroots, len(jblocks), err)
	}
	resp, err = http.Get(h.http.URL + "/receipts/" + head.String() + "?chain=maybe")
	if err != nil {
		t.Fatal(err)
	}
	checkJSONError(t, resp, 400, NameBadRequest)
}

func TestBatchAndRepeat(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	var invs []*ucan.Token
	for i := range 50 {
		invs = append(invs, h.put(fmt.Sprint(i), "x"))
	}
	// One invalid invocation among them gets an error receipt; the others run.
	bad := invoke(t, mustKey(t), h.space.DID(), "/dag/put", `{"path": "notes/z", "value": {"title": "x"}}`)
	invs = append(invs, bad)
	rs := h.send(invs)
	for _, inv := range invs[:50] {
		if r := rs[inv.CID]; r.Out.Err != nil {
			t.Fatalf("invocation failed: %+v", r.Out.Err)
		}
	}
	if r := rs[bad.CID]; r.Out.Err == nil || r.Out.Err.Name != ucan.InvalidClaim {
		t.Fatalf("unauthorised invocation: %+v", r.Out)
	}
	// Sending the same message again returns the stored results.
	again := h.send(invs[:50])
	for _, inv := range invs[:50] {
		if again[inv.CID].Seq != rs[inv.CID].Seq || again[inv.CID].Out.Err != nil {
			t.Fatalf("repeat of %s: %+v, first %+v", inv.CID, again[inv.CID], rs[inv.CID])
		}
	}
}

func TestContainerAndJSONReply(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	agent := mustKey(t)
	dlg := delegate(t, h.space, agent.DID(), h.space.DID(), "/dag")
	inv := invoke(t, agent, h.space.DID(), "/dag/put", `{"path": "notes/c", "value": {"title": "via container"}}`, dlg)
	for _, header := range container.Headers {
		body, err := container.Encode(header, [][]byte{inv.Raw, dlg.Raw})
		if err != nil {
			t.Fatal(err)
		}
		resp := h.post(message.ContentTypeDAGCBOR, body)
		data := readAll(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("header %c: %d %s", header, resp.StatusCode, data)
		}
		if r := h.replyReceipts(data, []*ucan.Token{inv})[inv.CID]; r.Out.Err != nil {
			t.Fatalf("header %c: %+v", header, r.Out.Err)
		}
	}
	// The bare DAG-CBOR map without a header byte is accepted too.
	body, err := container.Encode(container.HeaderRaw, [][]byte{inv.Raw, dlg.Raw})
	if err != nil {
		t.Fatal(err)
	}
	resp := h.post(message.ContentTypeDAGCBOR, body[1:], "Accept", message.ContentTypeDAGJSON)
	data := readAll(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != message.ContentTypeDAGJSON {
		t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	roots, blocks, err := message.DecodeJSON(data)
	if err != nil || len(roots) != 1 || len(blocks) != 2 || !blocks[0].CID.Equals(roots[0]) {
		t.Fatalf("DAG-JSON reply: %v %v %v", roots, blocks, err)
	}
}

func TestArchiveFailure(t *testing.T) {
	h := newHarness(t, harnessOptions{blobs: failingBlobs{}})
	inv := h.put("a", "x")
	checkJSONError(t, h.post(message.ContentTypeCAR, encode(t, []*ucan.Token{inv})), 503, NameArchive)
	if _, err := h.engine.Entry(context.Background(), mustPath(t, h.space.DID(), "notes/a")); err == nil {
		t.Fatal("the invocation ran although its message was not archived")
	}
	if seq, err := h.engine.LastSeq(context.Background()); err != nil || seq != 0 {
		t.Fatalf("last seq = %d, %v; want nothing committed", seq, err)
	}
}

func TestArchiveOutboxFailure(t *testing.T) {
	// As w3dag serve wires it, messages are archived through the engine's group commit:
	// a single write invocation's message in the transaction that runs it (Stage), the
	// others' before they run (Put, Options.Commit). When the outbox cannot be written,
	// nothing runs either.
	h := newHarness(t, harnessOptions{archive: func(eng *dag.Engine, blobs blob.Store) Archive {
		a := archive.New(blobs, archive.Options{Outbox: kvmem.New(), Commit: func(context.Context, func(kv.Tx) error) error {
			return errors.New("outbox unavailable")
		}})
		t.Cleanup(func() { a.Close() })
		return stageFails{a}
	}})
	get := invoke(t, h.space, h.space.DID(), "/dag/get", `{"path": "notes/a"}`)
	for _, invs := range [][]*ucan.Token{{h.put("a", "x")}, {h.put("b", "x"), h.put("c", "x")}, {get}} {
		checkJSONError(t, h.post(message.ContentTypeCAR, encode(t, invs)), 503, NameArchive)
		if seq, err := h.engine.LastSeq(context.Background()); err != nil || seq != 0 {
			t.Fatalf("%d invocations: last seq = %d, %v; want nothing committed", len(invs), seq, err)
		}
	}
}

// panicky is a Runner whose Exec panics.
type panicky struct{ Runner }

func (panicky) ExecWith(context.Context, *ops.Checked, cid.Cid, ...dag.OpOption) (ops.Outcome, error) {
	panic("boom")
}

// panickyStore is a Store whose Block panics.
type panickyStore struct{ Store }

func (panickyStore) Block(context.Context, cid.Cid) ([]byte, error) { panic("kaboom") }

func TestPanicsBecome500(t *testing.T) {
	h := newHarness(t, harnessOptions{runner: func(r Runner) Runner { return panicky{r} }})
	inv := h.put("p", "x")
	checkJSONError(t, h.post(message.ContentTypeCAR, encode(t, []*ucan.Token{inv})), 500, NameInternal)

	h.srv.opts.Store = panickyStore{h.srv.opts.Store}
	resp, err := http.Get(h.http.URL + "/receipts/" + inv.CID.String())
	if err != nil {
		t.Fatal(err)
	}
	checkJSONError(t, resp, 500, NameInternal)
}

func TestMetricsAndHealth(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	inv := h.put("m", "x")
	h.send([]*ucan.Token{inv})
	resp, err := http.Get(h.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := string(readAll(t, resp))
	for _, want := range []string{
		`w3dag_invocations_total{command="/dag/put",result="ok"} 1`,
		`w3dag_http_requests_total{code="200",method="POST",route="ucan"} 1`,
		`w3dag_messages_total{direction="in",outcome="archived"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	resp, err = http.Get(h.http.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(string(b), h.service.DID()) {
		t.Fatalf("healthz: %d %s", resp.StatusCode, b)
	}
	resp, err = http.Get(h.http.URL + "/.well-known/did.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ID      string `json:"id"`
		Service []struct {
			Endpoint string `json:"serviceEndpoint"`
		} `json:"service"`
	}
	if err := json.Unmarshal(readAll(t, resp), &doc); err != nil || doc.ID != h.service.DID() || doc.Service[0].Endpoint != "http://w3dag.test" {
		t.Fatalf("did.json: %+v %v", doc, err)
	}
}

func mustPath(t *testing.T, subject, rel string) dag.Path {
	t.Helper()
	p, err := dag.ParseRelative(subject, rel)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// busyRunner's Exec fails as the engine does when the store gave up committing a batch.
type busyRunner struct{ Runner }

func (busyRunner) ExecWith(context.Context, *ops.Checked, cid.Cid, ...dag.OpOption) (ops.Outcome, error) {
	return ops.Outcome{}, fmt.Errorf("running /dag/put: %w: committing 3 operations: conflicting", dag.ErrBusy)
}

// TestBusy: an invocation the store could not commit (dag.ErrBusy) is answered 503 with
// Retry-After, not 500: sending it again is the remedy.
func TestBusy(t *testing.T) {
	h := newHarness(t, harnessOptions{runner: func(r Runner) Runner { return busyRunner{r} }})
	inv := h.put("p", "x")
	resp := h.post(message.ContentTypeCAR, encode(t, []*ucan.Token{inv}))
	if got := resp.Header.Get("Retry-After"); got != strconv.Itoa(BusyRetryAfter) {
		t.Errorf("Retry-After %q, want %d", got, BusyRetryAfter)
	}
	if body := checkJSONError(t, resp, http.StatusServiceUnavailable, NameUnavailable); !strings.Contains(body, inv.CID.String()) {
		t.Errorf("the error does not name the invocation %s: %s", inv.CID, body)
	}
}
