package client

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"

	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// Receipt is a receipt of the service whose signature has been verified.
type Receipt struct {
	// CID of the receipt token.
	CID cid.Cid
	// Token is the receipt envelope as received.
	Token *ucan.Token
	// Ran is the invocation the receipt is for.
	Ran cid.Cid
	// Ok is out.ok (the entry's state for the DAG commands); nil for an error receipt.
	Ok datamodel.Node
	// Error is out.error; nil for an ok receipt.
	Error *ReceiptError
	// Path is the absolute path of the entry the receipt is about, if any.
	Path string
	// Origin is the previous head of the entry, if any.
	Origin *cid.Cid
	// Fx are the invocations the receipt caused.
	Fx []cid.Cid
	// TS is the time the receipt was issued, unix milliseconds.
	TS int64
	// Seq is the commit sequence of the receipt.
	Seq uint64
	// HeadReceipt is, for a get, the entry's head receipt when the reply carried it (verified
	// like the receipt itself); nil otherwise.
	HeadReceipt *Receipt
	// Blocks are the other blocks of the reply the receipt came in (the page block of a
	// select, the head receipt of a get), by CID; shared by the receipts of one reply.
	Blocks map[cid.Cid][]byte
	// Earlier is true when Send got this receipt for an invocation it does not name: the
	// service answered with the entry's head receipt, issued for an earlier invocation (a
	// put or remove that changed nothing, or a repeat of the same task).
	Earlier bool
}

// Err returns the receipt's error (a *ReceiptError) or nil for an ok receipt.
func (r *Receipt) Err() error {
	if r.Error != nil {
		return r.Error
	}
	return nil
}

// State is the entry state (or field) the receipt gives: out.ok of a put or remove, the
// "value" of a get's {path, head, value}. Nil for an error receipt.
func (r *Receipt) State() datamodel.Node {
	if r.Ok == nil {
		return nil
	}
	if h, v := lookup(r.Ok, "head"), lookup(r.Ok, "value"); h != nil && v != nil && h.Kind() == datamodel.Kind_Link {
		return v
	}
	return r.Ok
}

// Head is the entry's head receipt named by a get's {path, head, value}, or the receipt
// itself for a put or remove (it is the new head or the unchanged one).
func (r *Receipt) Head() cid.Cid {
	if h := lookup(r.Ok, "head"); h != nil {
		if l, err := h.AsLink(); err == nil {
			if cl, ok := l.(cidlink.Link); ok {
				return cl.Cid
			}
		}
	}
	return r.CID
}

// Status is the "status" field of the State, or "" when there is none.
func (r *Receipt) Status() string {
	return str(lookup(r.State(), "status"))
}

// VerifyReceipt checks that tok is a receipt signed by service and returns it. A receipt
// signed by another DID is a *WrongServiceError.
func VerifyReceipt(tok *ucan.Token, service string) (*Receipt, error) {
	return verifyReceipt(tok, service, "")
}

// verifyReceipt is VerifyReceipt for a receipt that came from the service at url.
func verifyReceipt(tok *ucan.Token, service, url string) (*Receipt, error) {
	if err := checkIssuer(tok, service, url); err != nil {
		return nil, err
	}
	rc, err := receipts.Verify(tok, service)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalidReceipt, tok.CID, err)
	}
	return newReceipt(tok, rc), nil
}

// checkIssuer returns a *WrongServiceError when tok is an invocation-shaped token (every
// receipt is) issued by another DID than service.
func checkIssuer(tok *ucan.Token, service, url string) error {
	if tok.Invocation != nil && tok.Invocation.Issuer != service {
		return &WrongServiceError{URL: url, Receipt: tok.CID, Service: service, Issuer: tok.Invocation.Issuer}
	}
	return nil
}

// checkReceipt is VerifyReceipt, or parseReceipt when Options.SkipSignatures is set.
func (c *Client) checkReceipt(tok *ucan.Token, service string) (*Receipt, error) {
	if c.noSig {
		return parseReceipt(tok, service, c.url)
	}
	return verifyReceipt(tok, service, c.url)
}

// parseReceipt is verifyReceipt without the signature check (Options.SkipSignatures).
func parseReceipt(tok *ucan.Token, service, url string) (*Receipt, error) {
	if err := checkIssuer(tok, service, url); err != nil {
		return nil, err
	}
	rc, err := receipts.Parse(tok)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalidReceipt, tok.CID, err)
	}
	return newReceipt(tok, rc), nil
}

func newReceipt(tok *ucan.Token, rc *receipts.Receipt) *Receipt {
	r := &Receipt{
		CID:    tok.CID,
		Token:  tok,
		Ran:    rc.Ran,
		Ok:     rc.Out.Ok,
		Path:   rc.Path,
		Origin: rc.Origin,
		Fx:     rc.Fx,
		TS:     rc.TS,
		Seq:    rc.Seq,
	}
	if rc.Out.Err != nil {
		r.Ok = nil
		r.Error = &ReceiptError{Name: rc.Out.Err.Name, Message: rc.Out.Err.Message, Receipt: r}
	}
	return r
}

// Receipt fetches the receipt rc from GET /receipts/{cid} and verifies it. rc may also be
// an invocation's CID: the service then answers with the receipt of its task.
func (c *Client) Receipt(ctx context.Context, rc cid.Cid) (*Receipt, error) {
	service, err := c.ServiceDID(ctx)
	if err != nil {
		return nil, err
	}
	roots, blocks, err := c.getBlocks(ctx, "/receipts/"+rc.String())
	if err != nil {
		return nil, fmt.Errorf("client: fetching receipt %s: %w", rc, err)
	}
	tok, ok := blocks[rc]
	if !ok && len(roots) == 1 {
		tok, ok = blocks[roots[0]]
	}
	if !ok {
		return nil, fmt.Errorf("client: fetching receipt %s: %w: not in the reply", rc, ErrInvalidResponse)
	}
	r, err := verifyReceipt(tok, service, c.url)
	if err != nil {
		return nil, err
	}
	if !r.CID.Equals(rc) && !r.Ran.Equals(rc) {
		return nil, fmt.Errorf("client: fetching receipt %s: %w: the service sent %s, which ran %s", rc, ErrInvalidReceipt, r.CID, r.Ran)
	}
	return r, nil
}

// Chain returns the receipt rc and the receipts before it, following origin links, newest
// first. It asks GET /receipts/{cid}?chain=1 and, for the first receipt a page lacks, the
// page starting there (the service pages long chains); every receipt must hash to the CID that links it, be signed by the service and be
// about the same path (receipts.Walk). rc may be an invocation's CID (its task's receipt).
func (c *Client) Chain(ctx context.Context, rc cid.Cid) ([]*Receipt, error) {
	service, err := c.ServiceDID(ctx)
	if err != nil {
		return nil, err
	}
	roots, blocks, err := c.getBlocks(ctx, "/receipts/"+rc.String()+"?chain=1")
	if err != nil {
		return nil, fmt.Errorf("client: fetching receipt chain of %s: %w", rc, err)
	}
	head := rc
	if _, ok := blocks[rc]; !ok && len(roots) == 1 {
		head = roots[0] // rc is an invocation: the chain starts at its receipt
	}
	if tok, ok := blocks[head]; ok {
		// A service with another key fails the whole chain: say so with both DIDs.
		if err := checkIssuer(tok, service, c.url); err != nil {
			return nil, err
		}
	}
	load := func(c2 cid.Cid) ([]byte, error) {
		if tok, ok := blocks[c2]; ok {
			return tok.Raw, nil
		}
		// The service cut the chain into pages (W3dag-Chain-Next): fetch the page
		// starting at c2 and keep all of it.
		_, more, err := c.getBlocks(ctx, "/receipts/"+c2.String()+"?chain=1")
		if err != nil {
			return nil, err
		}
		for k, v := range more {
			blocks[k] = v
		}
		tok, ok := more[c2]
		if !ok {
			return nil, fmt.Errorf("%w: receipt %s not in the reply", ErrInvalidResponse, c2)
		}
		return tok.Raw, nil
	}
	var chain []*Receipt
	err = receipts.Walk(ctx, load, head, service, func(t *ucan.Token, r *receipts.Receipt) error {
		chain = append(chain, newReceipt(t, r))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("client: receipt chain of %s: %w: %w", rc, ErrInvalidReceipt, err)
	}
	return chain, nil
}

// getBlocks GETs path and returns the roots and the tokens of the reply: a CAR of token
// blocks, or one raw token (DAG-CBOR, its own root).
func (c *Client) getBlocks(ctx context.Context, path string) ([]cid.Cid, map[cid.Cid]*ucan.Token, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+path, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", message.ContentTypeCAR+", "+message.ContentTypeDAGCBOR+";q=0.9")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, unreachable(c.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, httpError(resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxReplySize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading reply: %w", err)
	}
	if len(body) > MaxReplySize {
		return nil, nil, fmt.Errorf("%w: reply larger than %d bytes", ErrInvalidResponse, MaxReplySize)
	}
	return decodeTokens(body)
}

// decodeTokens decodes body as a CAR of blocks (keeping the blocks that are UCAN tokens) or,
// failing that, as one token.
func decodeTokens(body []byte) ([]cid.Cid, map[cid.Cid]*ucan.Token, error) {
	out := map[cid.Cid]*ucan.Token{}
	roots, blocks, carErr := message.DecodeCAR(body, message.MaxRootSize)
	if carErr == nil {
		for _, b := range blocks {
			tok, err := ucan.Decode(b.Data)
			if err != nil {
				continue // the message root or another non-token block
			}
			out[tok.CID] = tok
		}
		return roots, out, nil
	}
	tok, err := ucan.Decode(body)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: neither a CAR (%v) nor a token (%v)", ErrInvalidResponse, carErr, err)
	}
	out[tok.CID] = tok
	return []cid.Cid{tok.CID}, out, nil
}
