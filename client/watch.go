package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/container"
)

const (
	// MinReconnectDelay is the first wait before Watch reconnects after a dropped stream.
	MinReconnectDelay = 100 * time.Millisecond
	// MaxReconnectDelay caps the doubling wait between reconnects (and a server's retry:).
	MaxReconnectDelay = 10 * time.Second
	// MaxEventSize bounds one Server-Sent Event line.
	MaxEventSize = 1 << 20
)

// ErrStop, returned by a Watch callback, ends Watch without error.
var ErrStop = errors.New("client: stop watching")

// Event is one Server-Sent Event of a watch stream.
type Event struct {
	// ID is the event id, the resume point given back as Last-Event-ID.
	ID string
	// Type is the SSE event name ("" when the server sent none).
	Type string
	// Data is the event's data lines joined with "\n".
	Data []byte
	// Seq is the id when it is a number (the commit sequence).
	Seq uint64
	// ReceiptCID and Path name the receipt the event announces: read from Data when it is
	// the receipt envelope as DAG-JSON (what w3dag sends), or a JSON object with "receipt"
	// (a CID string or {"/": cid}) and "path".
	ReceiptCID cid.Cid
	Path       string
	// Receipt is the verified receipt when Data carried the envelope (Watch checks its
	// signature against the service DID); nil otherwise.
	Receipt *Receipt
}

// Watch follows the changes under path (an absolute DAG path) with GET /watch/{path…} and
// calls fn for each event, in order. lastID resumes after an event id seen before ("" starts
// with what the service sends first). When the stream drops, Watch reconnects with
// Last-Event-ID set to the last id seen, waiting MinReconnectDelay doubling up to
// MaxReconnectDelay. It authorises with a bearer ctn-v1 container holding a /dag/get
// invocation of path and its proofs. It returns nil when fn returns ErrStop, fn's other
// errors, ctx's error when ctx ends, an *HTTPError when the service refuses the watch
// with a 4xx status, and an *UnreachableError when the service cannot be reached before
// Watch has ever reached it (once it has, it keeps reconnecting).
func (c *Client) Watch(ctx context.Context, path, lastID string, fn func(Event) error) error {
	if _, _, err := SplitPath(path); err != nil {
		return err
	}
	delay := MinReconnectDelay
	reached := false
	for {
		got, retry, err := c.watchOnce(ctx, path, &lastID, fn)
		var ue *UnreachableError
		unreachable := errors.As(err, &ue)
		switch {
		case errors.Is(err, ErrStop):
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case unreachable && !reached:
			return err
		case err != nil && !isRetryable(err):
			return err
		}
		reached = reached || !unreachable
		if got {
			delay = MinReconnectDelay
		}
		if retry > 0 {
			delay = min(retry, MaxReconnectDelay)
		}
		c.log.Debug("watch: reconnecting", "path", path, "last_id", lastID, "after", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, MaxReconnectDelay)
	}
}

type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
func (e *callbackError) Unwrap() error { return e.err }

// isRetryable says whether a watch attempt's failure is worth a reconnect: network errors,
// dropped streams and 5xx/429 replies are; 4xx refusals and callback errors are not.
func isRetryable(err error) bool {
	var cb *callbackError
	if errors.As(err, &cb) {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status >= 500 || he.Status == http.StatusTooManyRequests
	}
	return !errors.Is(err, ErrNoProof) && !errors.Is(err, ErrInvalidPath)
}

// Bearer returns the Authorization header value that lets the agent read path: "Bearer " and
// a base64 ctn-v1 container of a /dag/get invocation of path and its proofs.
func (c *Client) Bearer(ctx context.Context, path string) (string, error) {
	inv, err := c.NewInvocation(ctx, CmdGet, path, nil)
	if err != nil {
		return "", err
	}
	return BearerOf(inv)
}

// BearerOf returns "Bearer " and the base64 ctn-v1 container of inv and its proofs.
func BearerOf(inv *Invocation) (string, error) {
	tokens := [][]byte{inv.Token.Raw}
	for _, p := range inv.Proofs {
		tokens = append(tokens, p.Raw)
	}
	ctn, err := container.Encode(container.HeaderBase64, tokens)
	if err != nil {
		return "", fmt.Errorf("client: encoding bearer container: %w", err)
	}
	return "Bearer " + string(ctn), nil
}

// watchOnce runs one connection. It reports whether any event arrived and the retry delay
// the server asked for.
func (c *Client) watchOnce(ctx context.Context, path string, lastID *string, fn func(Event) error) (bool, time.Duration, error) {
	service, err := c.ServiceDID(ctx)
	if err != nil {
		return false, 0, err
	}
	auth, err := c.Bearer(ctx, path)
	if err != nil {
		return false, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/watch"+path, nil)
	if err != nil {
		return false, 0, fmt.Errorf("client: watch %s: %w", path, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", auth)
	if *lastID != "" {
		req.Header.Set("Last-Event-ID", *lastID)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false, 0, fmt.Errorf("client: watch %s: %w", path, unreachable(c.url, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, 0, fmt.Errorf("client: watch %s: %w", path, httpError(resp))
	}
	got := false
	var retry time.Duration
	err = ReadEvents(resp.Body, func(ev Event, r time.Duration) error {
		if r > 0 {
			retry = r
		}
		if ev.ID != "" {
			*lastID = ev.ID
		}
		if ev.Data == nil && ev.Type == "" {
			return nil // only an id or a retry: field
		}
		got = true
		if ev.Receipt != nil {
			r, err := verifyReceipt(ev.Receipt.Token, service, c.url)
			if err != nil {
				return &callbackError{fmt.Errorf("watch %s: event %s: %w", path, ev.ID, err)}
			}
			ev.Receipt, ev.Path = r, r.Path
		}
		if err := fn(ev); err != nil {
			return &callbackError{err}
		}
		return nil
	})
	var cb *callbackError
	if errors.As(err, &cb) {
		return got, retry, cb.err
	}
	if err == nil {
		err = io.ErrUnexpectedEOF // the service ended the stream; reconnect
	}
	return got, retry, err
}

// ReadEvents parses a text/event-stream from r and calls fn for each dispatched event with
// the last retry: value seen (0 if none). Comments are skipped. It returns nil at the end of
// the stream, or fn's error.
func ReadEvents(r io.Reader, fn func(Event, time.Duration) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxEventSize)
	var ev Event
	var data []string
	hasData := false
	var retry time.Duration
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if hasData || ev.ID != "" || ev.Type != "" {
				if hasData {
					ev.Data = []byte(strings.Join(data, "\n"))
					parseEventData(&ev)
				}
				if err := fn(ev, retry); err != nil {
					return err
				}
			}
			ev, data, hasData = Event{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			if !strings.ContainsRune(value, 0) {
				ev.ID = value
			}
		case "event":
			ev.Type = value
		case "data":
			data = append(data, value)
			hasData = true
		case "retry":
			if ms, err := strconv.ParseUint(value, 10, 32); err == nil {
				retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	return sc.Err()
}

// parseEventData fills Seq from a numeric id, and ReceiptCID, Path and Receipt (not yet
// verified) from ev.Data: a receipt envelope as DAG-JSON, or a JSON object with "seq",
// "path" and "receipt".
func parseEventData(ev *Event) {
	if n, err := strconv.ParseUint(ev.ID, 10, 64); err == nil {
		ev.Seq = n
	}
	if tok, err := envelopeFromJSON(ev.Data); err == nil {
		ev.ReceiptCID = tok.CID
		ev.Receipt = &Receipt{CID: tok.CID, Token: tok}
		return
	}
	var d struct {
		Seq     json.Number     `json:"seq"`
		Path    string          `json:"path"`
		Receipt json.RawMessage `json:"receipt"`
	}
	if json.Unmarshal(ev.Data, &d) != nil {
		return
	}
	if n, err := strconv.ParseUint(d.Seq.String(), 10, 64); err == nil && d.Seq != "" {
		ev.Seq = n
	}
	ev.Path = d.Path
	var s string
	if json.Unmarshal(d.Receipt, &s) != nil {
		var l struct {
			Link string `json:"/"`
		}
		if json.Unmarshal(d.Receipt, &l) == nil {
			s = l.Link
		}
	}
	if c, err := cid.Decode(s); err == nil {
		ev.ReceiptCID = c
	}
}

// envelopeFromJSON turns a token envelope rendered as DAG-JSON back into the token: the
// envelope is canonical DAG-CBOR, so re-encoding the data gives its exact bytes (and CID).
func envelopeFromJSON(data []byte) (*ucan.Token, error) {
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagjson.Decode(nb, bytes.NewReader(data)); err != nil {
		return nil, err
	}
	n := nb.Build()
	if n.Kind() != datamodel.Kind_List {
		return nil, errors.New("not an envelope")
	}
	var buf bytes.Buffer
	if err := dagcbor.Encode(n, &buf); err != nil {
		return nil, err
	}
	return ucan.Decode(buf.Bytes())
}
