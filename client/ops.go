package client

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
)

// MaxSelectLimit is the largest page a select may ask for (the service's default limit).
const MaxSelectLimit = 1000

// Put invokes /dag/put of value at path and returns the entry's head receipt. An error
// receipt is returned as a *ReceiptError (with the receipt).
func (c *Client) Put(ctx context.Context, path string, value datamodel.Node) (*Receipt, error) {
	if value == nil {
		return nil, fmt.Errorf("client: put %s: nil value", path)
	}
	return c.do(ctx, CmdPut, path, Args{"value": value})
}

// Get invokes /dag/get of path (an entry or a field inside its state). The receipt's
// State is the entry's state (or the field), Head names the entry's head receipt, and
// HeadReceipt is that receipt, verified, when the reply carried it.
func (c *Client) Get(ctx context.Context, path string) (*Receipt, error) {
	r, err := c.do(ctx, CmdGet, path, nil)
	if err != nil {
		return r, err
	}
	if h := r.Head(); !h.Equals(r.CID) {
		if raw, ok := r.Blocks[h]; ok {
			tok, err := ucan.Decode(raw)
			if err != nil || !tok.CID.Equals(h) {
				return nil, fmt.Errorf("%w: head receipt block %s of %s does not decode to it", ErrInvalidReceipt, h, path)
			}
			service, err := c.ServiceDID(ctx)
			if err != nil {
				return nil, err
			}
			if r.HeadReceipt, err = c.checkReceipt(tok, service); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// Remove invokes /dag/remove of path; the receipt's state is the tombstone.
func (c *Client) Remove(ctx context.Context, path string) (*Receipt, error) {
	return c.do(ctx, CmdRemove, path, nil)
}

// Query selects a page of a collection. The zero value asks for the service's default page
// from the start, whatever the status.
type Query struct {
	// Limit is the most entries in the page; 0 leaves it to the service.
	Limit int
	// Cursor continues after a previous page (Page.Cursor); "" starts at the beginning.
	Cursor string
	// Status keeps only entries in this state; "" keeps all.
	Status string
}

// Page is one page of /dag/select.
type Page struct {
	// Entries in insertion order.
	Entries []PageEntry
	// Cursor continues with the next page; "" when there are no more entries.
	Cursor string
	// Receipt is the select's receipt; its Ok is the page as the service sent it.
	Receipt *Receipt
}

// PageEntry is one entry of a page, as far as the service describes it.
type PageEntry struct {
	// Key is the entry key inside the collection.
	Key string
	// Path is the entry's path as the service wrote it, if it did.
	Path string
	// Head is the CID of the entry's head receipt, if given.
	Head cid.Cid
	// Status is the entry's state's status, if given.
	Status string
	// State is the entry's state, if given.
	State datamodel.Node
	// Node is the page item as received.
	Node datamodel.Node
}

// Select invokes /dag/select on a collection path (/<did>/<collection>).
func (c *Client) Select(ctx context.Context, path string, q Query) (*Page, error) {
	if q.Limit < 0 || q.Limit > MaxSelectLimit {
		return nil, fmt.Errorf("client: select limit %d out of range 0..%d", q.Limit, MaxSelectLimit)
	}
	args := Args{}
	if q.Limit > 0 {
		args["limit"] = basicnode.NewInt(int64(q.Limit))
	}
	if q.Cursor != "" {
		args["cursor"] = basicnode.NewString(q.Cursor)
	}
	if q.Status != "" {
		args["status"] = basicnode.NewString(q.Status)
	}
	r, err := c.do(ctx, CmdSelect, path, args)
	if err != nil {
		return nil, err
	}
	p, err := ParsePage(r.Ok, r.Blocks)
	if err != nil {
		return nil, fmt.Errorf("client: select %s: %w", path, err)
	}
	p.Receipt = r
	return p, nil
}

// ParsePage reads the out.ok of a select receipt, {page: &Page, count, cursor?}, whose page
// block {entries: [{key, head, state}]} is among blocks; a page given inline (entries in
// out.ok itself) is read too. The cursor is a string under "cursor".
func ParsePage(n datamodel.Node, blocks map[cid.Cid][]byte) (*Page, error) {
	if n == nil || n.Kind() != datamodel.Kind_Map {
		return nil, fmt.Errorf("%w: select result is not a map", ErrInvalidResponse)
	}
	p := &Page{Cursor: str(lookup(n, "cursor"))}
	body := n
	if link := lookup(n, "page"); link != nil {
		l, err := link.AsLink()
		if err != nil {
			return nil, fmt.Errorf("%w: select result page is not a link", ErrInvalidResponse)
		}
		cl, _ := l.(cidlink.Link)
		raw, ok := blocks[cl.Cid]
		if !ok {
			return nil, fmt.Errorf("%w: the reply lacks the page block %s", ErrInvalidResponse, l)
		}
		if message.Sum(cl.Cid.Prefix().Codec, raw) != cl.Cid {
			return nil, fmt.Errorf("%w: page block does not hash to %s", ErrInvalidResponse, cl.Cid)
		}
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := (dagcbor.DecodeOptions{AllowLinks: true}).Decode(nb, bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("%w: page block: %v", ErrInvalidResponse, err)
		}
		body = nb.Build()
	}
	list := lookup(body, "entries")
	if list == nil || list.Kind() != datamodel.Kind_List {
		return nil, fmt.Errorf("%w: select result has no entries list", ErrInvalidResponse)
	}
	it := list.ListIterator()
	for !it.Done() {
		_, item, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("%w: select entries: %v", ErrInvalidResponse, err)
		}
		e := PageEntry{Node: item}
		if item.Kind() == datamodel.Kind_Map {
			e.Key = str(lookup(item, "key"))
			e.Path = str(lookup(item, "path"))
			e.Status = str(lookup(item, "status"))
			e.State = lookup(item, "state")
			if e.Status == "" && e.State != nil {
				e.Status = str(lookup(e.State, "status"))
			}
			if h := lookup(item, "head", "receipt"); h != nil {
				if l, err := h.AsLink(); err == nil {
					if cl, ok := l.(cidlink.Link); ok {
						e.Head = cl.Cid
					}
				}
			}
		}
		p.Entries = append(p.Entries, e)
	}
	return p, nil
}

// lookup returns the first of keys present in map n (nil if none or n is not a map).
func lookup(n datamodel.Node, keys ...string) datamodel.Node {
	if n == nil || n.Kind() != datamodel.Kind_Map {
		return nil
	}
	for _, k := range keys {
		v, err := n.LookupByString(k)
		if err == nil && v != nil && !v.IsNull() && !v.IsAbsent() {
			return v
		}
	}
	return nil
}

func str(n datamodel.Node) string {
	if n == nil {
		return ""
	}
	s, err := n.AsString()
	if err != nil {
		return ""
	}
	return s
}

// do seals one invocation, sends it and turns an error receipt into a *ReceiptError.
func (c *Client) do(ctx context.Context, cmd, path string, args Args) (*Receipt, error) {
	inv, err := c.NewInvocation(ctx, cmd, path, args)
	if err != nil {
		return nil, err
	}
	rs, err := c.Send(ctx, inv)
	if err != nil {
		return nil, err
	}
	r := rs[0]
	if r.Error != nil {
		return r, r.Error
	}
	return r, nil
}
