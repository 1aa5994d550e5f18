package server

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/internal/readall"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/container"
)

// bodyKind is what a POST /ucan body is, from its Content-Type.
type bodyKind int

const (
	bodyCAR       bodyKind = iota + 1 // application/vnd.ipld.car: an agent message
	bodyContainer                     // a UCAN container (ctn-v1), any of its six headers
)

// Content types accepted for UCAN containers, besides message.ContentTypeDAGCBOR.
const (
	// ContentTypeContainer is the media type of a UCAN container in any of its forms.
	ContentTypeContainer = "application/vnd.ucan.container"
	// ContentTypeText is accepted for the base64 container forms (headers B, C, O, P).
	ContentTypeText = "text/plain"
)

// bodyKindOf maps a Content-Type to the body kind; the error says why a type is not
// accepted.
func bodyKindOf(contentType string) (bodyKind, error) {
	switch contentType {
	case "":
		return 0, errors.New("Content-Type is required: " + message.ContentTypeCAR + " or " + message.ContentTypeDAGCBOR)
	case message.ContentTypeCAR, message.ContentTypeCAR + "; version=1":
		return bodyCAR, nil // what clients send, without parsing it
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, fmt.Errorf("Content-Type %q does not parse: %v", contentType, err)
	}
	switch mt {
	case message.ContentTypeCAR:
		if v, ok := params["version"]; ok && v != "1" {
			return 0, fmt.Errorf("CAR version %s is not accepted, send CAR v1", v)
		}
		return bodyCAR, nil
	case message.ContentTypeDAGCBOR, ContentTypeContainer, ContentTypeText:
		return bodyContainer, nil
	}
	return 0, fmt.Errorf("Content-Type %q is not accepted: send %s (agent message) or %s (UCAN container)",
		mt, message.ContentTypeCAR, message.ContentTypeDAGCBOR)
}

// wantsJSON reports whether the Accept header asks for DAG-JSON.
func wantsJSON(accept string) bool {
	if accept == "" || accept == message.ContentTypeCAR {
		return false // no header, or what clients send, without parsing it
	}
	for _, mt := range splitAccept(accept) {
		if mt == message.ContentTypeDAGJSON || mt == "application/json" {
			return true
		}
	}
	return false
}

// splitAccept returns the media types an Accept header lists, without parameters.
func splitAccept(accept string) []string {
	var out []string
	for _, part := range strings.Split(accept, ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil {
			out = append(out, mt)
		}
	}
	return out
}

// request is a decoded POST /ucan body.
type request struct {
	codec       uint64 // codec of the archived body's CID
	invocations []*ucan.Token
	proofs      ucan.Proofs
}

// httpError is a transport failure with its status and JSON error name.
type httpError struct {
	status int
	name   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func malformed(format string, args ...any) *httpError {
	return &httpError{status: http.StatusBadRequest, name: NameMalformed, msg: fmt.Sprintf(format, args...)}
}

func tooLarge(format string, args ...any) *httpError {
	return &httpError{status: http.StatusRequestEntityTooLarge, name: NameTooLarge, msg: fmt.Sprintf(format, args...)}
}

// initialBodyBuffer is the most readBody allocates before bytes arrive.
const initialBodyBuffer = 256 << 10

// readBody reads a request body of at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int) ([]byte, *httpError) {
	if r.ContentLength > int64(limit) {
		return nil, tooLarge("body is %d bytes, the limit is %d", r.ContentLength, limit)
	}
	// Trust Content-Length for the first allocation only up to initialBodyBuffer: a
	// client announcing 4 MiB and sending nothing must not cost 4 MiB.
	buf, err := readall.Sized(http.MaxBytesReader(w, r.Body, int64(limit)), r.ContentLength, initialBodyBuffer)
	if err == nil {
		return buf, nil
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge("body is larger than the limit of %d bytes", limit)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, &httpError{status: http.StatusRequestTimeout, name: NameBadRequest,
			msg: fmt.Sprintf("the body came too slowly (%d bytes read): send it faster", len(buf))}
	}
	return nil, &httpError{status: http.StatusBadRequest, name: NameBadRequest, msg: "reading body: " + err.Error()}
}

// decodeRequest parses a body into invocations and proofs, checking every limit.
func (s *Server) decodeRequest(kind bodyKind, body []byte) (*request, *httpError) {
	var raws [][]byte
	var blockCIDs []cid.Cid
	var roots []cid.Cid
	req := &request{proofs: ucan.Proofs{}}
	switch kind {
	case bodyCAR:
		req.codec = message.CodecCAR
		m, err := message.Decode(body, s.opts.Limits)
		if errors.Is(err, message.ErrTooLarge) {
			return nil, tooLarge("agent message: %v", err)
		}
		if err != nil {
			return nil, malformed("agent message: %v", err)
		}
		if len(m.Invocations) == 0 {
			return nil, malformed("agent message carries no invocations")
		}
		roots = m.Invocations
		for _, b := range m.Blocks {
			raws = append(raws, b.Data)
			blockCIDs = append(blockCIDs, b.CID)
		}
	case bodyContainer:
		req.codec = message.CodecRaw
		data := body
		if len(data) > 0 && data[0]>>5 == 5 {
			// A bare DAG-CBOR map {"ctn-v1": [...]} without the header byte.
			data = append([]byte{container.HeaderRaw}, data...)
		}
		tokens, err := container.Decode(data)
		if errors.Is(err, container.ErrTooLarge) {
			return nil, tooLarge("UCAN container: %v", err)
		}
		if err != nil {
			return nil, malformed("UCAN container: %v", err)
		}
		// message.Decode bounds the blocks of a CAR; a container's tokens are bounded here.
		for i, raw := range tokens {
			if len(raw) > s.opts.Limits.MaxBlockSize {
				return nil, tooLarge("token %d is %d bytes, the limit is %d", i, len(raw), s.opts.Limits.MaxBlockSize)
			}
		}
		raws = tokens
	}
	tokens := make(map[cid.Cid]*ucan.Token, len(raws))
	var order []*ucan.Token
	for i, raw := range raws {
		tok, err := ucan.Decode(raw)
		if err != nil {
			if blockCIDs != nil {
				return nil, malformed("block %s is not a UCAN token: %v", blockCIDs[i], err)
			}
			return nil, malformed("container token %d is not a UCAN token: %v", i, err)
		}
		if blockCIDs != nil && !tok.CID.Equals(blockCIDs[i]) {
			return nil, malformed("block %s holds a token whose CID is %s", blockCIDs[i], tok.CID)
		}
		if _, dup := tokens[tok.CID]; dup {
			continue
		}
		tokens[tok.CID] = tok
		order = append(order, tok)
		if tok.Delegation != nil {
			req.proofs[tok.CID] = tok
		}
	}
	if kind == bodyCAR {
		for _, c := range roots {
			tok := tokens[c]
			if tok.Invocation == nil {
				return nil, malformed("%s is listed as an invocation but is a delegation", c)
			}
			req.invocations = append(req.invocations, tok)
		}
	} else {
		for _, tok := range order {
			if tok.Invocation != nil {
				req.invocations = append(req.invocations, tok)
			}
		}
		if len(req.invocations) == 0 {
			return nil, malformed("UCAN container holds no invocation")
		}
	}
	if n, lim := len(req.invocations), s.opts.Limits.MaxInvocations; n > lim {
		return nil, tooLarge("%d invocations in one message, the limit is %d", n, lim)
	}
	// Every block must be an invocation of the message or a proof one of them cites:
	// nothing else would be used, and nothing unused is archived.
	used := make(map[cid.Cid]bool, len(order))
	for _, inv := range req.invocations {
		used[inv.CID] = true
		for _, p := range inv.Invocation.Proofs {
			used[p] = true
		}
	}
	for _, tok := range order {
		if !used[tok.CID] {
			return nil, malformed("token %s is neither an invocation of the message nor a proof one cites; send only what the invocations use", tok.CID)
		}
	}
	return req, nil
}

// postUCAN serves POST /ucan: decode, archive, run every invocation concurrently, reply
// with their receipts.
func (s *Server) postUCAN(w http.ResponseWriter, r *http.Request) {
	kind, err := bodyKindOf(r.Header.Get("Content-Type"))
	if err != nil {
		writeError(w, http.StatusUnsupportedMediaType, NameUnsupportedMedia, err.Error())
		return
	}
	asJSON := wantsJSON(r.Header.Get("Accept"))
	// The body is read whole before the request takes a turn, so a slow sender holds a
	// connection, not a turn. Not every ResponseWriter supports deadlines (httptest's
	// recorder does not); the limits are best effort there.
	rb := newRateBody(w, r, s.opts.MinBodyRate, s.opts.MessageReadTimeout)
	r.Body = rb
	body, herr := readBody(w, r, s.opts.Limits.MaxSize)
	rb.Close()
	if herr != nil {
		writeError(w, herr.status, herr.name, herr.msg)
		return
	}
	select {
	case s.inFlight <- struct{}{}:
		defer func() { <-s.inFlight }()
	case <-r.Context().Done():
		writeError(w, http.StatusServiceUnavailable, NameUnavailable, "gave up waiting for a turn: "+r.Context().Err().Error())
		return
	}
	req, herr := s.decodeRequest(kind, body)
	if herr != nil {
		writeError(w, herr.status, herr.name, herr.msg)
		return
	}
	// Once archived, the invocations run to the end even if the client goes away.
	ctx := context.WithoutCancel(r.Context())
	// Check the invocations (signatures, chains, arguments; this writes nothing), then
	// archive the message before anything in it runs; a message every invocation of which
	// is refused is not kept whole, only a small record of the refusal (docs/SECURITY.md).
	checked, budget := s.check(req)
	// Reserve the bytes the selects may put in the reply before anything runs; wait while
	// other replies hold them (ReplyBytesInFlight).
	if n := min(int64(budget.ReplyBytes()), s.opts.ReplyBytesInFlight); n > 0 {
		if err := s.replyBytes.Acquire(r.Context(), n); err != nil {
			writeError(w, http.StatusServiceUnavailable, NameUnavailable, "gave up waiting for reply memory: "+err.Error())
			return
		}
		defer s.replyBytes.Release(n)
	}
	refused := refusals(checked)
	var msg cid.Cid
	var st *staged
	switch {
	case refused != nil:
		msg, err = s.opts.Archive.PutRefusal(ctx, req.codec, body, len(req.invocations), req.invocations[0].Invocation.Issuer, refused)
	default:
		if len(checked) == 1 && checked[0] != nil && checked[0].Writes() {
			// One invocation run as an engine write: its message is written in the
			// transaction that runs it, before the run (one commit wait, not two).
			if m, write, committed, ok := s.opts.Archive.Stage(req.codec, body); ok {
				msg, st = m, &staged{write: write, committed: committed}
				break
			}
		}
		msg, err = s.opts.Archive.Put(ctx, req.codec, body)
	}
	if err != nil {
		s.archiveFailed(ctx, w, err)
		return
	}
	if st == nil {
		s.metrics.messages.WithLabelValues("in", "archived").Inc()
	}

	outs := s.run(ctx, req, checked, msg, st)
	if st != nil {
		// Archived with the run, or (the run left nothing: it failed, a panic) now,
		// before anything is answered.
		if err := s.settleStaged(ctx, st, outs[0], req.codec, body); err != nil {
			s.archiveFailed(ctx, w, err)
			return
		}
	}
	reply := &message.Message{
		Receipts: make([]message.Receipt, 0, len(outs)),
		Blocks:   make([]message.Block, 0, len(outs)),
	}
	invs := make([]cid.Cid, 0, len(outs))
	inReply := make(map[cid.Cid]bool, len(outs))
	addBlock := func(b message.Block) {
		if !inReply[b.CID] {
			inReply[b.CID] = true
			reply.Blocks = append(reply.Blocks, b)
		}
	}
	for i, o := range outs {
		if errors.Is(o.err, dag.ErrBusy) || errors.Is(o.err, dag.ErrCommit) {
			// 503 as on every route (with Retry-After, unless the store has failed):
			// nothing of the invocation was written.
			s.writeFailure(w, r, fmt.Sprintf("invocation %s was not run (invocations that ran keep their results, retrying returns them)", req.invocations[i].CID), o.err)
			return
		}
		if o.err != nil {
			s.log.ErrorContext(ctx, "running invocation", "msg", msg.String(), "invocation", req.invocations[i].CID.String(), "error", o.err)
			writeError(w, http.StatusInternalServerError, NameInternal,
				fmt.Sprintf("invocation %s could not be run (%v); invocations that ran keep their results, retrying returns them", req.invocations[i].CID, o.err))
			return
		}
		rcpt := o.out.Receipt
		reply.Receipts = append(reply.Receipts, message.Receipt{Invocation: req.invocations[i].CID, Receipt: rcpt.CID})
		addBlock(message.Block{CID: rcpt.CID, Data: rcpt.Raw})
		for _, b := range o.out.Blocks {
			addBlock(message.Block{CID: b.CID, Data: b.Raw})
		}
		invs = append(invs, req.invocations[i].CID)
	}
	message.SortReceipts(reply.Receipts)
	data, err := message.Encode(reply)
	if err != nil {
		s.log.ErrorContext(ctx, "encoding reply", "msg", msg.String(), "error", err)
		writeError(w, http.StatusInternalServerError, NameInternal, "encoding the reply: "+err.Error())
		return
	}
	// The receipts are committed with the state already; the archived copy of the reply
	// is written after answering, off the client's latency (Serve waits for it).
	if refused == nil { // the reply to a refused message holds only unstored refusals
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.archiveReply(ctx, msg, data, invs)
		}()
	}
	if asJSON {
		out, err := replyJSON(reply)
		if err != nil {
			writeError(w, http.StatusInternalServerError, NameInternal, "encoding the reply as DAG-JSON: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", message.ContentTypeDAGJSON)
		w.Write(out)
		return
	}
	w.Header().Set("Content-Type", message.ContentTypeCAR+"; version=1")
	w.Write(data)
}

// archiveFailed answers a request whose message could not be archived: nothing ran.
func (s *Server) archiveFailed(ctx context.Context, w http.ResponseWriter, err error) {
	s.metrics.messages.WithLabelValues("in", "failed").Inc()
	s.log.Log(ctx, dag.LogLevel(err), "archiving request message", "error", err)
	if errors.Is(err, kv.ErrFailed) {
		writeError(w, http.StatusServiceUnavailable, NameStoreFailed, "the message could not be archived, nothing ran: "+storeFailedMsg)
		return
	}
	writeError(w, http.StatusServiceUnavailable, NameArchive, "the message could not be archived, nothing ran; retry later")
}

// What a client is told when its request could not be committed (dag.ErrCommit): the
// details are the operator's, in the log (and, for a failed store, at GET /healthz).
const (
	// storeFailedMsg: the store has failed (kv.ErrFailed).
	storeFailedMsg = "the service's store has failed and takes no writes until the service is restarted; retry later"
	// commitFailedMsg: any other failed commit (the store refused the transaction or
	// could not be reached).
	commitFailedMsg = "the service could not write to its store (it refused the write or could not be reached); nothing was written; retry later"
)

// staged is a request message written in the transaction that runs its one invocation
// (Archive.Stage, dag.WithPreWrite).
type staged struct {
	write     func(kt kv.Tx) error
	committed func()
	// wrote: write ran in a transaction of the operation (in the last one, which
	// committed, when the operation returned without error).
	wrote atomic.Bool
}

// option returns the engine option that writes the message in the operation's
// transaction.
func (st *staged) option() dag.OpOption {
	return dag.WithPreWrite(func(kt kv.Tx) error {
		st.wrote.Store(true)
		return st.write(kt)
	})
}

// settleStaged completes the archiving of a staged request message after its invocation
// ran with o: a run that committed committed the message too (the archive's mover learns
// of it now); one that left nothing (an internal failure, a panic, an operation that did
// not write it) has the message archived by Put, before the failure is answered, so that
// no message is lost.
func (s *Server) settleStaged(ctx context.Context, st *staged, o outcome, codec uint64, body []byte) error {
	if o.err == nil && st.wrote.Load() {
		st.committed()
		s.metrics.messages.WithLabelValues("in", "archived").Inc()
		return nil
	}
	if o.err == nil {
		// Checked.Writes said the operation writes, yet it ran without the write: archive
		// the message anyway.
		s.log.ErrorContext(ctx, "a staged request message was not written by its operation; archiving it now")
	}
	if _, err := s.opts.Archive.Put(ctx, codec, body); err != nil {
		return err
	}
	s.metrics.messages.WithLabelValues("in", "archived").Inc()
	return nil
}

// replyJSON renders reply as DAG-JSON: its root block first, then its other blocks.
func replyJSON(reply *message.Message) ([]byte, error) {
	root, err := message.Root(reply)
	if err != nil {
		return nil, err
	}
	return message.EncodeJSON([]cid.Cid{root.CID}, append([]message.Block{root}, reply.Blocks...))
}

type outcome struct {
	out ops.Outcome
	err error
}

// check checks the invocations of req, in parallel when there are several, all drawing
// from one work budget for the message.
func (s *Server) check(req *request) ([]*ops.Checked, *ops.Budget) {
	out := make([]*ops.Checked, len(req.invocations))
	b := s.opts.Runner.NewBudget()
	if len(out) == 1 {
		out[0] = s.checkOne(req.invocations[0], req.proofs, b)
		return out, b
	}
	workers := min(len(out), runtime.GOMAXPROCS(0))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(out); i = int(next.Add(1)) - 1 {
				out[i] = s.checkOne(req.invocations[i], req.proofs, b)
			}
		}()
	}
	wg.Wait()
	return out, b
}

// refusals returns the refusal names of checked when every invocation in it was refused,
// nil when any of them runs (or could not be checked: it fails when run, archived whole).
func refusals(checked []*ops.Checked) []string {
	names := make([]string, 0, len(checked))
	for _, c := range checked {
		if c == nil || c.Refusal() == "" {
			return nil
		}
		names = append(names, c.Refusal())
	}
	return names
}

// checkOne checks one invocation; a panic in it becomes a nil result (an internal failure
// when run).
func (s *Server) checkOne(inv *ucan.Token, proofs ucan.Proofs, b *ops.Budget) (c *ops.Checked) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic checking invocation", "invocation", inv.CID.String(), "panic", v)
			c = nil
		}
	}()
	return s.opts.Runner.Check(inv, proofs, b)
}

// run runs the checked invocations of req concurrently, so that the engine's group commit
// can put them in as few transactions as possible. st, when not nil, is the message of
// req's one invocation, written in the transaction that runs it.
func (s *Server) run(ctx context.Context, req *request, checked []*ops.Checked, msg cid.Cid, st *staged) []outcome {
	outs := make([]outcome, len(req.invocations))
	if len(req.invocations) == 1 {
		var opts []dag.OpOption
		if st != nil {
			opts = []dag.OpOption{st.option()}
		}
		outs[0] = s.runOne(ctx, checked[0], msg, opts...)
		return outs
	}
	var wg sync.WaitGroup
	for i := range req.invocations {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i] = s.runOne(ctx, checked[i], msg)
		}()
	}
	wg.Wait()
	return outs
}

func (s *Server) runOne(ctx context.Context, c *ops.Checked, msg cid.Cid, opts ...dag.OpOption) (o outcome) {
	if c == nil {
		return outcome{err: errors.New("checking the invocation failed")}
	}
	defer func() {
		if v := recover(); v != nil {
			o = outcome{err: fmt.Errorf("panic: %v", v)}
			s.log.ErrorContext(ctx, "panic running invocation", "invocation", c.Invocation().CID.String(), "panic", v)
		}
	}()
	out, err := s.opts.Runner.ExecWith(ctx, c, msg, opts...)
	if err != nil {
		return outcome{err: err}
	}
	if out.Receipt == nil {
		return outcome{err: errors.New("runner returned no receipt")}
	}
	result := out.Result
	if result == "" {
		result = "ok"
	}
	s.metrics.invocations.WithLabelValues(out.Command, result).Inc()
	return outcome{out: out}
}

// archiveReply stores a reply message and indexes it for its invocations, in one
// transaction of the engine when the archive writes there (Archive.Stage), else by Put
// then RecordReply. Failures are logged and counted: the receipts themselves are
// committed with the state.
func (s *Server) archiveReply(ctx context.Context, req cid.Cid, data []byte, invs []cid.Cid) {
	if rmsg, write, committed, ok := s.opts.Archive.Stage(message.CodecCAR, data); ok {
		if err := s.opts.Store.RecordReply(ctx, rmsg, invs, dag.WithPreWrite(write)); err != nil {
			s.metrics.messages.WithLabelValues("out", "failed").Inc()
			s.log.Log(ctx, dag.LogLevel(err), "archiving and indexing reply message", "msg", req.String(), "reply", rmsg.String(), "error", err)
			return
		}
		committed()
		s.metrics.messages.WithLabelValues("out", "archived").Inc()
		return
	}
	rmsg, err := s.opts.Archive.Put(ctx, message.CodecCAR, data)
	if err != nil {
		s.metrics.messages.WithLabelValues("out", "failed").Inc()
		s.log.Log(ctx, dag.LogLevel(err), "archiving reply message", "msg", req.String(), "error", err)
		return
	}
	s.metrics.messages.WithLabelValues("out", "archived").Inc()
	if err := s.opts.Store.RecordReply(ctx, rmsg, invs); err != nil {
		s.log.Log(ctx, dag.LogLevel(err), "indexing reply message", "msg", req.String(), "reply", rmsg.String(), "error", err)
	}
}
