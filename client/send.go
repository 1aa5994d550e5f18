package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/internal/readall"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
)

// Send sends invs to the service in agent messages of at most MaxInvocations invocations
// and about MaxMessageSize bytes each and returns their verified receipts, in the order of invs. Error receipts are returned
// like any other (see Receipt.Err); the error is non-nil only when a message could not be
// delivered or a receipt is missing or does not verify.
func (c *Client) Send(ctx context.Context, invs ...*Invocation) ([]*Receipt, error) {
	service, err := c.ServiceDID(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Receipt, 0, len(invs))
	for start, end := 0, 0; start < len(invs); start = end {
		end = batchEnd(invs, start)
		body, err := EncodeMessage(invs[start:end])
		if err != nil {
			return nil, err
		}
		rs, err := c.post(ctx, body, service, invs[start:end])
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// batchEnd returns the end of the message starting at invs[start]: at most MaxInvocations
// invocations whose tokens and (distinct) proofs add up to at most MaxMessageSize bytes, and
// at least one invocation.
func batchEnd(invs []*Invocation, start int) int {
	size := messageOverhead
	seen := map[string]bool{}
	end := start
	for end < len(invs) && end-start < MaxInvocations {
		add := len(invs[end].Token.Raw) + blockOverhead
		for _, p := range invs[end].Proofs {
			if !seen[p.CID.KeyString()] {
				add += len(p.Raw) + blockOverhead
			}
		}
		if end > start && size+add > MaxMessageSize {
			break
		}
		for _, p := range invs[end].Proofs {
			seen[p.CID.KeyString()] = true
		}
		size += add
		end++
	}
	return end
}

// EncodeMessage returns the agent message (CAR) carrying invs and every proof they cite.
func EncodeMessage(invs []*Invocation) ([]byte, error) {
	m := &message.Message{}
	seen := map[cid.Cid]bool{}
	add := func(t *ucan.Token) {
		if !seen[t.CID] {
			seen[t.CID] = true
			m.Blocks = append(m.Blocks, message.Block{CID: t.CID, Data: t.Raw})
		}
	}
	for _, inv := range invs {
		if inv == nil || inv.Token == nil {
			return nil, fmt.Errorf("client: encoding message: nil invocation")
		}
		m.Invocations = append(m.Invocations, inv.Token.CID)
		add(inv.Token)
		for _, p := range inv.Proofs {
			add(p)
		}
	}
	body, err := message.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return body, nil
}

// post sends one encoded message and matches the reply's receipts to invs.
func (c *Client) post(ctx context.Context, body []byte, service string, invs []*Invocation) ([]*Receipt, error) {
	resp, err := c.Post(ctx, body, message.ContentTypeCAR)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("client: POST /ucan: %w", httpError(resp))
	}
	reply, err := readAllSized(resp.Body, resp.ContentLength, MaxReplySize+1)
	if err != nil {
		return nil, fmt.Errorf("client: reading reply: %w", err)
	}
	if len(reply) > MaxReplySize {
		return nil, fmt.Errorf("client: reply: %w: larger than %d bytes", ErrInvalidResponse, MaxReplySize)
	}
	return c.readReply(reply, service, invs)
}

// initialReplyBuffer is the most readAllSized allocates before bytes arrive: a reply of
// 100 receipts fits, and a service announcing a Content-Length it does not send costs
// the client no more than this (the server's readBody caps its first buffer the same way,
// with the same readall.Sized).
const initialReplyBuffer = 1 << 20

// readAllSized reads r to its end, at most limit bytes, into a buffer sized for the
// size r announced (a Content-Length; negative: unknown) when that is within limit and
// initialReplyBuffer, so that a reply of known size is read without growing the buffer
// (readall.Sized, as the server reads requests).
func readAllSized(r io.Reader, size, limit int64) ([]byte, error) {
	if size >= limit {
		size = -1 // announced beyond the limit: the limit cuts it, not a buffer of its size
	}
	return readall.Sized(io.LimitReader(r, limit), size, initialReplyBuffer)
}

// readReply decodes a reply message and matches its receipts to invs.
func (c *Client) readReply(reply []byte, service string, invs []*Invocation) ([]*Receipt, error) {
	m, err := message.Decode(reply, message.ReplyLimits)
	if err != nil {
		return nil, fmt.Errorf("client: reply: %w: %w", ErrInvalidResponse, err)
	}
	blocks := m.Index()
	byInv := make(map[cid.Cid]cid.Cid, len(m.Receipts))
	for _, r := range m.Receipts {
		byInv[r.Invocation] = r.Receipt
	}
	out := make([]*Receipt, len(invs))
	for i, inv := range invs {
		rc, ok := byInv[inv.Token.CID]
		if !ok {
			return nil, fmt.Errorf("%w for invocation %s", ErrMissingReceipt, inv.Token.CID)
		}
		tok, err := ucan.Decode(blocks[rc])
		if err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrInvalidReceipt, rc, err)
		}
		if !tok.CID.Equals(rc) {
			return nil, fmt.Errorf("%w %s: block hashes to %s", ErrInvalidReceipt, rc, tok.CID)
		}
		r, err := c.checkReceipt(tok, service)
		if err != nil {
			return nil, err
		}
		if !r.Ran.Equals(inv.Token.CID) {
			// The service answers a put or remove that changed nothing (and a repeat of
			// the same task) with the entry's head receipt, issued for an earlier
			// invocation: accept it only as the head of the path invoked on.
			if !aboutPath(r, inv) {
				return nil, fmt.Errorf("%w %s: ran %s, not the invocation %s, and is not the head of its path", ErrInvalidReceipt, rc, r.Ran, inv.Token.CID)
			}
			r.Earlier = true
		}
		r.Blocks = blocks
		out[i] = r
	}
	return out, nil
}

// Post sends body to POST /ucan with the given content type and returns the response
// unread. It is the raw transport Send is built on; the conformance suite uses it to send
// malformed messages.
func (c *Client) Post(ctx context.Context, body []byte, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/ucan", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("client: POST /ucan: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", message.ContentTypeCAR)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: POST /ucan: %w", unreachable(c.url, err))
	}
	return resp, nil
}

// ErrorFromResponse reads a 4xx/5xx reply's JSON error body into an *HTTPError. It accepts
// {"error": {"name", "message"}}, {"name", "message"} and {"error": "message"}; another
// body becomes the Message. It does not close the body.
func ErrorFromResponse(resp *http.Response) *HTTPError { return httpError(resp) }

func httpError(resp *http.Response) *HTTPError {
	e := &HTTPError{Status: resp.StatusCode}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBodySize))
	var flat struct {
		Name    string          `json:"name"`
		Message string          `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &flat) == nil {
		e.Name, e.Message = flat.Name, flat.Message
		var nested struct {
			Name    string `json:"name"`
			Message string `json:"message"`
		}
		var s string
		if json.Unmarshal(flat.Error, &nested) == nil && (nested.Name != "" || nested.Message != "") {
			e.Name, e.Message = nested.Name, nested.Message
		} else if json.Unmarshal(flat.Error, &s) == nil && e.Message == "" {
			e.Message = s
		}
		return e
	}
	e.Message = string(bytes.TrimSpace(data))
	if len(e.Message) > 200 {
		e.Message = e.Message[:200]
	}
	return e
}

// aboutPath says whether r is a receipt of the entry inv's path names (or of the entry a
// field path lies in).
func aboutPath(r *Receipt, inv *Invocation) bool {
	if r.Path == "" || inv.Token.Invocation == nil || inv.Token.Invocation.Args == nil {
		return false
	}
	n, err := inv.Token.Invocation.Args.LookupByString("path")
	if err != nil {
		return false
	}
	rel, err := n.AsString()
	if err != nil {
		return false
	}
	p := "/" + inv.Token.Invocation.Subject + "/" + rel
	return p == r.Path || strings.HasPrefix(p, r.Path+"/")
}
