package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

const notesSchema = `
type Space struct {
  notes {String:Note}
}

type Note struct {
  title String
}
`

type harness struct {
	t       *testing.T
	service did.Signer
	engine  *dag.Engine
	blobs   blob.Store
	srv     *Server
	http    *httptest.Server
	space   did.Signer
}

// serve runs h's server with Serve (its shutdown included, unlike the httptest server)
// on a listener of its own, and returns its address, the cancel that starts the shutdown,
// and what Serve returns. The test's end cancels it too.
func (h *harness) serve() (addr string, shutdown context.CancelFunc, served <-chan error) {
	h.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- h.srv.Serve(ctx, ln) }()
	return ln.Addr().String(), cancel, done
}

type harnessOptions struct {
	blobs blob.Store // nil: blob/mem
	kv    kv.Store   // the engine's store; nil: kv/mem
	// archive, when set, builds the archive from the engine (instead of blobs directly).
	archive  func(*dag.Engine, blob.Store) Archive
	limits   message.Limits
	inFlight int                 // Options.MaxInFlight
	runner   func(Runner) Runner // wraps the real runner
	// replyBytes is Options.ReplyBytesInFlight.
	replyBytes int64
	// logger is the server's and the engine's; nil discards.
	logger *slog.Logger
	// shutdown is Options.ShutdownTimeout.
	shutdown time.Duration
}

func newHarness(t *testing.T, ho harnessOptions) *harness {
	t.Helper()
	service, space := mustKey(t), mustKey(t)
	if ho.kv == nil {
		ho.kv = kvmem.New()
	}
	eng, err := dag.Open(context.Background(), dag.Options{KV: ho.kv, Signer: service, Schema: schema.MustLoad([]byte(notesSchema)), Logger: ho.logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	o, err := ops.New(ops.Options{Engine: eng, Signer: service})
	if err != nil {
		t.Fatal(err)
	}
	var runner Runner = o
	if ho.runner != nil {
		runner = ho.runner(o)
	}
	if ho.blobs == nil {
		ho.blobs = mem.New()
	}
	var arch Archive = archive.New(ho.blobs, archive.Options{})
	if ho.archive != nil {
		arch = ho.archive(eng, ho.blobs)
	}
	srv, err := New(Options{
		Service: service, PublicURL: "http://w3dag.test", Runner: runner, Store: eng,
		Archive: arch, Limits: ho.limits, MaxInFlight: ho.inFlight,
		ReplyBytesInFlight: ho.replyBytes, Logger: ho.logger, ShutdownTimeout: ho.shutdown,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close(); srv.Wait() })
	return &harness{t: t, service: service, engine: eng, blobs: ho.blobs, srv: srv, http: hs, space: space}
}

// engineArchive returns, for harnessOptions.archive, the archive as w3dag serve wires it:
// its outbox in the engine's store, written through the engine's group commit
// (Options.Commit). *arch is set to it.
func engineArchive(t *testing.T, store kv.Store, arch **archive.Archive) func(*dag.Engine, blob.Store) Archive {
	return func(eng *dag.Engine, blobs blob.Store) Archive {
		a := archive.New(blobs, archive.Options{Outbox: store, Commit: func(ctx context.Context, fn func(kv.Tx) error) error {
			return eng.Update(ctx, func(t *dag.Tx) error {
				kt, err := t.KV(archive.KVPrefix)
				if err != nil {
					return err
				}
				return fn(kt)
			})
		}})
		t.Cleanup(func() { a.Close() })
		*arch = a
		return a
	}
}

func mustKey(t testing.TB) did.Signer {
	t.Helper()
	k, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func node(t testing.TB, js string) datamodel.Node {
	t.Helper()
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagjson.Decode(nb, strings.NewReader(js)); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return nb.Build()
}

func invoke(t testing.TB, iss did.Signer, sub, cmd, args string, prf ...*ucan.Token) *ucan.Token {
	t.Helper()
	in := &ucan.Invocation{Issuer: iss.DID(), Subject: sub, Command: cmd, Args: node(t, args), Nonce: ucan.NewNonce()}
	for _, p := range prf {
		in.Proofs = append(in.Proofs, p.CID)
	}
	tok, err := in.Seal(iss, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func delegate(t testing.TB, iss did.Signer, aud, sub, cmd string) *ucan.Token {
	t.Helper()
	d := &ucan.Delegation{Issuer: iss.DID(), Audience: aud, Subject: sub, Command: cmd, Nonce: ucan.NewNonce()}
	tok, err := d.Seal(iss, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// put returns a /dag/put of notes/<key> self-issued by the harness space.
func (h *harness) put(key, title string) *ucan.Token {
	return invoke(h.t, h.space, h.space.DID(), "/dag/put", fmt.Sprintf(`{"path": "notes/%s", "value": {"title": %q}}`, key, title))
}

// encode returns an agent message carrying invs and proofs.
func encode(t testing.TB, invs []*ucan.Token, proofs ...*ucan.Token) []byte {
	t.Helper()
	m := &message.Message{}
	for _, i := range invs {
		m.Invocations = append(m.Invocations, i.CID)
		m.Blocks = append(m.Blocks, message.Block{CID: i.CID, Data: i.Raw})
	}
	for _, p := range proofs {
		m.Blocks = append(m.Blocks, message.Block{CID: p.CID, Data: p.Raw})
	}
	data, err := message.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// post sends body to POST /ucan.
func (h *harness) post(contentType string, body []byte, header ...string) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.http.URL+"/ucan", bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// send posts invs as one CAR message and returns the verified receipts by invocation.
func (h *harness) send(invs []*ucan.Token, proofs ...*ucan.Token) map[cid.Cid]*receipts.Receipt {
	h.t.Helper()
	resp := h.post(message.ContentTypeCAR, encode(h.t, invs, proofs...))
	body := readAll(h.t, resp)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("POST /ucan: %d %s", resp.StatusCode, body)
	}
	return h.replyReceipts(body, invs)
}

func (h *harness) replyReceipts(body []byte, invs []*ucan.Token) map[cid.Cid]*receipts.Receipt {
	h.t.Helper()
	m, err := message.Decode(body, message.ReplyLimits)
	if err != nil {
		h.t.Fatalf("reply: %v", err)
	}
	if len(m.Receipts) != len(invs) {
		h.t.Fatalf("reply has %d receipts, want %d", len(m.Receipts), len(invs))
	}
	idx := m.Index()
	out := map[cid.Cid]*receipts.Receipt{}
	for _, r := range m.Receipts {
		tok, err := ucan.Decode(idx[r.Receipt])
		if err != nil {
			h.t.Fatal(err)
		}
		rc, err := receipts.Verify(tok, h.service.DID())
		if err != nil {
			h.t.Fatal(err)
		}
		if !rc.Ran.Equals(r.Invocation) {
			h.t.Fatalf("receipt for %s ran %s", r.Invocation, rc.Ran)
		}
		out[r.Invocation] = rc
	}
	return out
}

func readAll(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// failingBlobs is a blob store whose writes fail.
type failingBlobs struct{ blob.Store }

func (failingBlobs) Put(context.Context, string, io.Reader, blob.PutOptions) error {
	return errors.New("disk on fire")
}
